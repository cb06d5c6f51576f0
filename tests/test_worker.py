"""The run engine with a real worker process (django-q2 cluster) and the REST API."""

from __future__ import annotations

import time

import pytest

from portal.runs.choices import Status
from portal.runs.models import Lock, Run

from .conftest import wait_for

pytestmark = pytest.mark.engine


def run_status(pk):
    return Run.objects.get(pk=pk).status


def test_selfcheck_from_the_api_streams_lines_live_and_succeeds(api, worker):
    response = api.post("/api/runs/", {"kind": "selfcheck"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "kind", "status"} and body["status"] == "queued"
    seen_live, after, lines = False, 0, []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        log = api.get(f"/api/runs/{body['id']}/log/?after={after}").json()
        if log["lines"]:
            assert log["lines"][0]["seq"] == after + 1  # no gaps across polls
            after = log["lines"][-1]["seq"]
            lines += log["lines"]
            seen_live = seen_live or not log["finished"]
        if log["finished"]:
            break
        time.sleep(0.2)
    assert seen_live, "lines should be visible while the run is still running"
    assert run_status(body["id"]) == Status.SUCCEEDED
    assert "all checks passed" in lines[-1]["text"]
    run = Run.objects.get(pk=body["id"])
    assert run.queue_seconds < 5


def test_cancel_of_a_running_selfcheck_ends_canceled_within_two_seconds(api, start_worker):
    start_worker(PORTAL_SELFCHECK_SECONDS="30")
    pk = api.post("/api/runs/", {"kind": "selfcheck"}, format="json").json()["id"]
    wait_for(lambda: run_status(pk) == Status.RUNNING, timeout=20, message="run to start")
    asked = time.monotonic()
    assert api.post(f"/api/runs/{pk}/cancel/").status_code == 202
    wait_for(lambda: run_status(pk) == Status.CANCELED, timeout=2, interval=0.05,
             message="canceled")
    assert time.monotonic() - asked < 2


def test_second_selfcheck_on_one_environment_is_refused_with_409(api, db):
    from envs.models import Environment

    Environment.objects.create(name="dev", tier="dev")
    first = api.post("/api/runs/", {"kind": "selfcheck", "environment": "dev"}, format="json")
    assert first.status_code == 201
    second = api.post("/api/runs/", {"kind": "selfcheck", "environment": "dev"}, format="json")
    assert second.status_code == 409
    body = second.json()
    assert body["error"] == "locked" and body["run"] == first.json()["id"]
    assert f"run #{first.json()['id']}" in body["detail"]


def test_killed_worker_leaves_the_run_failed_and_its_lock_free(api, start_worker):
    from envs.models import Environment

    Environment.objects.create(name="dev", tier="dev")
    first = start_worker(PORTAL_SELFCHECK_SECONDS="60")
    pk = api.post("/api/runs/", {"kind": "selfcheck", "environment": "dev"},
                  format="json").json()["id"]
    wait_for(lambda: run_status(pk) == Status.RUNNING, timeout=20, message="run to start")
    first.kill()
    killed_at = time.monotonic()
    start_worker()
    wait_for(lambda: run_status(pk) == Status.FAILED, timeout=60, interval=0.5,
             message="the reaper to fail the run")
    assert time.monotonic() - killed_at < 60
    run = Run.objects.get(pk=pk)
    assert "interrupted" in run.error
    assert not Lock.objects.filter(key="env:dev").exists()
