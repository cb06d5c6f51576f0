"""The run page offers the next step within one poll of the status changing, without a
reload: "Review and approve" for a planned run, the release of a finished deploy, "Retry"
for a failed one, a success summary; the log box shows the end once the run is over.
Parameters show as JSON, never a Python repr."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from envs.deploys.models import Release
from envs.models import Environment
from portal.runs.kinds import RunKind, register
from portal.runs.models import Run, RunLine

from .conftest import shot

register(RunKind(name="test_planned", label="Test plan", execute=lambda ctx: "planned",
                 links=lambda run: [("The plan", f"/plans/{run.pk}/")]))


def running(kind: str, **params) -> Run:
    run = Run.objects.create(kind=kind, target="env:dev", status="running", actor="owner",
                             started_at=timezone.now(), lock_key="env:dev",
                             params={"environment": "dev", **params})
    RunLine.objects.bulk_create([RunLine(run=run, seq=i, ts=timezone.now(), text=f"line {i}")
                                 for i in range(1, 301)])
    Run.objects.filter(pk=run.pk).update(line_count=300)
    return run


@pytest.mark.django_db
def test_a_planned_run_says_review_and_approve_in_the_poll(signed_in):
    run = running("test_planned")
    assert "Review and approve" not in signed_in.get(f"/runs/{run.pk}/").content.decode()
    Run.objects.filter(pk=run.pk).update(status="planned")
    poll = signed_in.get(f"/runs/{run.pk}/lines?after=300").content.decode()
    assert f'<a class="btn" id="next-primary" href="/plans/{run.pk}/">Review and approve</a>' \
        in poll
    page = signed_in.get(f"/runs/{run.pk}/").content.decode()
    assert '{&quot;environment&quot;: &quot;dev&quot;}' in page and "{&#x27;" not in page


@pytest.mark.browser
def test_next_step_appears_without_a_reload(signed_in_page):
    page = signed_in_page
    Environment.objects.create(name="dev", tier="dev")
    run = running("deploy", component="component:default/shop", image="ghcr.io/a/shop:2")
    page.goto(f"{page.base}/runs/{run.pk}/")
    expect(page.locator("#run-status-badge")).to_have_text("running")
    assert page.locator("#next-retry").count() == 0
    Run.objects.filter(pk=run.pk).update(status="failed", error="rollout did not complete",
                                         finished_at=timezone.now())
    expect(page.locator("#next-retry")).to_have_text("Retry from the board", timeout=3000)
    assert page.locator("#next-retry").get_attribute("href") == "/board/#cell-dev-shop"
    # the log box shows its end once the run is over
    expect(page.locator("#log-poller[data-finished]")).to_have_count(1)
    at_end = page.locator("#log").evaluate(
        "l => l.scrollHeight - l.scrollTop - l.clientHeight < 5")
    assert at_end

    ok = running("deploy", component="component:default/shop", image="ghcr.io/a/shop:3")
    page.goto(f"{page.base}/runs/{ok.pk}/")
    expect(page.locator("#run-status-badge")).to_have_text("running")
    page.locator("#log").evaluate("l => { l.scrollTop = 0; }")  # the owner scrolled up
    release = Release.objects.create(environment=Environment.objects.get(name="dev"),
                                     component="component:default/shop", run=ok,
                                     image="ghcr.io/a/shop:3", actor="owner", workload="x")
    Run.objects.filter(pk=ok.pk).update(status="succeeded", finished_at=timezone.now(),
                                        result={"image": "ghcr.io/a/shop:3"})
    expect(page.locator("#run-summary")).to_contain_text("Deploy succeeded", timeout=3000)
    expect(page.locator(".next-link", has_text=f"Release #{release.pk}")).to_have_count(1)
    assert page.locator("#log").evaluate(
        "l => l.scrollHeight - l.scrollTop - l.clientHeight < 5")
    shot(page, "run-next-step")
