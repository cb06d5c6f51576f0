"""In Chromium: the Overview of an environment with an overdue backup and a failing
notification channel leads with both; the Backups tab without a bucket shows its buttons
disabled and names the setting to set, at 1280 px and at 390 px without sideways scroll."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from envs.models import Environment

from .conftest import shot
from .test_overview_attention import failing_channel, source

pytestmark = pytest.mark.browser


def test_overview_names_the_overdue_backup_and_the_failing_channel_first(signed_in_page,
                                                                         settings):
    page = signed_in_page
    settings.BACKUP_BUCKET = ""
    settings.BACKUP_MAX_AGE_HOURS = 26
    settings.NOTIFY_FAILING_AFTER = 3
    dev = Environment.objects.create(name="dev", tier="dev")
    source(dev, "app-db", added_hours_ago=24 * 10, verified_hours_ago=30)
    failing_channel("ops", hours_ago=5)

    page.goto(f"{page.base}/envs/dev/")
    items = page.locator("#attention li")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("app-db: no verified backup for 30 h (expected daily)")
    expect(items.nth(1)).to_contain_text("Notifications to ops (json://127.0.0.1) are failing "
                                         "for 5 h: 3 attempts in a row failed")
    # first thing on the page: above the description and the latest runs
    expect(page.locator("#attention h2")).to_have_text("Needs you")
    top = page.locator("#attention").bounding_box()["y"]
    assert top < page.locator("#env-meta").bounding_box()["y"]
    assert top < page.locator("#runs").bounding_box()["y"]
    assert items.nth(0).get_attribute("title").startswith("last verified backup ")
    shot(page, "overview-attention")

    items.nth(0).get_by_role("link", name="Open backups").click()
    page.wait_for_url(f"{page.base}/envs/dev/backups/")
    notice = page.locator("#backups-no-bucket")
    expect(notice).to_contain_text("PORTAL_BACKUP_BUCKET")
    for label in ("Back up now", "Apply retention", "Run a restore drill"):
        button = page.get_by_role("button", name=label)
        expect(button).to_be_disabled()
    expect(page.locator("#drill-no-bucket")).to_contain_text("PORTAL_BACKUP_BUCKET")
    # the line is in view with the buttons, above them
    assert notice.bounding_box()["y"] < page.get_by_role(
        "button", name="Back up now").bounding_box()["y"]
    shot(page, "backups-no-bucket")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("#backups-no-bucket")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), \
        "the Backups tab scrolls sideways at 390 px"
    page.goto(f"{page.base}/envs/dev/")
    expect(page.locator("#attention li")).to_have_count(2)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), \
        "the Overview scrolls sideways at 390 px"

    # the failing channel's item goes to the deliveries
    page.locator("#attention li").nth(1).get_by_role("link", name="See the deliveries").click()
    page.wait_for_url(f"{page.base}/settings/notifications/?status=failed")
