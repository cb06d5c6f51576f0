"""The foundation in a real browser: sign in, dashboard, a selfcheck with a live log, cancel."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from envs.models import Environment
from portal.runs.models import Run

from .conftest import shot, wait_for

pytestmark = pytest.mark.browser


def test_dashboard_and_a_live_selfcheck_run(signed_in_page, worker):
    page = signed_in_page
    Environment.objects.create(name="dev", tier="dev", description="development")
    page.goto(f"{page.base}/")
    assert page.locator("h1").inner_text() == "Dashboard"
    assert page.locator(".card h3", has_text="dev").count() == 1
    page.select_option("select[name=environment]", "dev")
    page.click("#start-selfcheck")
    page.wait_for_url("**/runs/*/")
    # Lines appear while the run is still running: the page polls with an ?after= cursor.
    page.wait_for_selector("#log .ln")
    assert page.locator("#run-status-badge").inner_text() in ("queued", "running")
    shot(page, "run-live")
    expect(page.locator("#run-status-badge")).to_have_text("succeeded", timeout=30000)
    log = page.locator("#log").inner_text()
    assert "all checks passed" in log
    numbers = [int(n) for n in page.locator("#log .seq").all_inner_texts()]
    assert numbers == list(range(1, len(numbers) + 1))
    page.goto(f"{page.base}/")
    assert page.locator(".timeline rect").count() >= 1
    shot(page, "dashboard")


def test_cancel_from_the_run_page(signed_in_page, start_worker):
    page = signed_in_page
    start_worker(PORTAL_SELFCHECK_SECONDS="30")
    page.goto(f"{page.base}/")
    page.click("#start-selfcheck")
    page.wait_for_url("**/runs/*/")
    pk = int(page.url.rstrip("/").rsplit("/", 1)[1])
    wait_for(lambda: Run.objects.get(pk=pk).status == "running", timeout=20)
    page.reload()
    page.click("#cancel-run")
    expect(page.locator("#run-status-badge")).to_have_text("canceled", timeout=10000)
    assert Run.objects.get(pk=pk).status == "canceled"


def test_sign_in_page_and_sign_out(page, owner, signed_in_page):
    signed_in_page.click("text=Sign out")
    signed_in_page.wait_for_url("**/signin/")
    assert "Sign in to EaaS Portal" in signed_in_page.content()
    shot(signed_in_page, "signin")


def test_api_docs_render_under_the_csp(signed_in_page):
    page = signed_in_page
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{page.base}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20000)
    assert "EaaS Portal API" in page.locator(".swagger-ui .info .title").inner_text()
    page.wait_for_selector(".opblock-tag", timeout=20000)
    assert page.locator(".opblock-tag").count() >= 3
    assert not [e for e in errors if "Content Security Policy" in e], errors
    shot(page, "api-docs")
