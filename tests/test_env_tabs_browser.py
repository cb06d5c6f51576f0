"""The environment pages in Chromium, as the owner opens them in the morning: the Overview
fits 1280×800 and leads with what needs them; every tab arrives from the server in under
300 ms although the cluster address accepts and never answers, and the live status then
says "unreachable since …"; the cluster connection can be removed with a button (after a
question); and no page of a full scenario shows a Python repr."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from envs.provisioning.models import DriftStatus
from envs.secrets.models import Secret
from envs.sections import TABS
from portal.runs.models import Run

from .conftest import shot
from .test_board_env_tabs import dev  # noqa: F401 - the fixture
from .test_board_no_reprs import PAGES, REPR, scenario  # noqa: F401 - the fixture
from .test_board_page import silent_cluster  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser

# Server time of the page itself (request sent → last byte), as the browser measured it.
SERVER_MS = """() => { const n = performance.getEntriesByType('navigation')[0];
                       return n.responseEnd - n.requestStart; }"""


def test_the_overview_fits_the_screen_and_leads_with_what_needs_the_owner(signed_in_page,
                                                                         dev):  # noqa: F811
    page = signed_in_page
    plan = Run.objects.create(kind="plan", target=dev.target, status="planned", actor="owner")
    DriftStatus.objects.create(environment=dev, status="drifted",
                               drifted=[{"address": "a.b", "reason": "x", "actions": []}])
    Secret.objects.create(environment=dev, name="API_KEY", max_age_days=30,
                          set_at=timezone.now() - timedelta(days=40))
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{page.base}/envs/")
    page.locator("table").get_by_role("link", name="dev", exact=True).click()
    expect(page.locator("#env-tabs a[aria-current=page]")).to_have_text("Overview")
    attention = page.locator("#attention")
    expect(attention).to_contain_text(f"run #{plan.pk} is planned")
    expect(attention).to_contain_text("Drift: 1 resource changed outside Terraform")
    expect(attention).to_contain_text("API_KEY")
    # the first thing on the page after the tab bar, and all of it within one screen
    box = attention.bounding_box()
    assert box is not None and box["y"] < 250, box
    shot(page, "env-overview")
    height = page.evaluate("() => document.documentElement.scrollHeight")
    assert height <= 800, f"the Overview is {height} px tall at 1280×800"
    attention.get_by_role("link", name="Review and approve").click()
    page.wait_for_url(f"**/runs/{plan.pk}/")


def test_every_tab_arrives_in_300_ms_with_a_cluster_that_never_answers(signed_in_page,
                                                                       dev):  # noqa: F811
    page = signed_in_page
    page.goto(f"{page.base}/envs/dev/")  # templates compiled, the session warm
    for slug, label in TABS:
        page.locator("#env-tabs").get_by_role("link", name=label, exact=True).click()
        page.wait_for_url(f"**/envs/dev/{slug}/")
        expect(page.locator("#env-tabs a[aria-current=page]")).to_have_text(label)
        took = page.evaluate(SERVER_MS)
        assert took < 300, f"{label} took {took:.0f} ms"
    page.locator("#env-tabs").get_by_role("link", name="Deploys", exact=True).click()
    # the live part is loaded apart, with its short timeout, and says since when
    expect(page.locator("main")).to_contain_text("unreachable since", timeout=15000)
    shot(page, "env-deploys-unreachable")


def test_the_cluster_connection_is_removed_with_a_button(signed_in_page, dev):  # noqa: F811
    page = signed_in_page
    page.goto(f"{page.base}/envs/dev/deploys/")
    questions: list[str] = []

    def answer(dialog):
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    page.locator("#remove-cluster").click()
    expect(page.locator("main")).to_contain_text("No cluster connection is set for dev")
    assert questions and "Remove the cluster connection of dev?" in questions[0]
    expect(page.locator("#remove-cluster")).to_have_count(0)
    dev.refresh_from_db()
    assert dev.kubeconfig is None


def test_no_page_of_a_full_scenario_shows_a_python_repr(signed_in_page, scenario):  # noqa: F811
    page = signed_in_page
    paths = [*PAGES, *(f"/runs/{pk}/" for pk in Run.objects.values_list("pk", flat=True))]
    for path in paths:
        page.goto(f"{page.base}{path}")
        page.wait_for_load_state("networkidle")  # parts loaded apart are in
        text = page.locator("body").inner_text()
        found = [text[max(0, m.start() - 40):m.end() + 40] for m in REPR.finditer(text)]
        assert not found, (path, found)
