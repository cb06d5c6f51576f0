"""Settings -> Notifications in a real browser: add a channel, press "Send test", see it
delivered (at a real local receiver, and in the page's delivery list)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import shot
from .fakes.receivers import JsonReceiver

pytestmark = pytest.mark.browser

SECRET = "browser-hook-secret-5150"


@pytest.fixture
def receiver():
    r = JsonReceiver().start()
    yield r
    r.close()


def test_add_a_channel_and_send_a_test(signed_in_page, receiver, settings):
    settings.NOTIFY_ALLOW_PRIVATE = True
    settings.NOTIFY_TIMEOUT = 3
    page = signed_in_page
    page.goto(f"{page.base}/")
    page.click("nav >> text=Settings")  # Settings -> Notifications (the settings tabs)
    page.click("#settings-nav >> text=Notifications")
    page.wait_for_url("**/settings/notifications/")
    expect(page.locator("#no-channels")).to_be_visible()
    page.fill("#channel-name", "phone")
    page.fill("#channel-url", receiver.url(password=SECRET))
    # Per-event checkboxes: the defaults are ticked; add deploy.succeeded.
    add = page.locator("#add-channel")
    expect(add.locator("input[value='run.failed']")).to_be_checked()
    expect(add.locator("input[value='deploy.succeeded']")).not_to_be_checked()
    add.locator("input[value='deploy.succeeded']").check()
    page.click("#add-channel-button")
    expect(page.locator(".messages .success")).to_contain_text("Channel phone added")
    panel = page.locator(".channel", has_text="phone")
    expect(panel.locator("code")).to_have_text(f"json://127.0.0.1:{receiver.port}")
    expect(panel.locator("input[value='deploy.succeeded']")).to_be_checked()
    assert SECRET not in page.content()
    panel.locator("button.send-test").click()
    expect(page.locator(".messages .success")).to_contain_text("Test message delivered to phone")
    [message] = receiver.wait_for(1)
    assert "Test message for phone" in message["title"]
    row = page.locator("#deliveries tr.delivery").first
    expect(row.locator(".delivery-status")).to_have_text("sent")
    expect(row).to_contain_text("channel.test")
    shot(page, "notifications")
    # A receiver that is gone: the page says why, in one line.
    receiver.close()
    page.locator(".channel", has_text="phone").locator("button.send-test").click()
    expect(page.locator(".messages .error")).to_contain_text("Test message to phone failed")
    expect(page.locator("#deliveries tr.delivery").first.locator(".delivery-status")
           ).to_have_text("failed")
    assert SECRET not in page.content()
