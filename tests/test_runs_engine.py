"""The Run engine: job frame, log lines, cancel, locks, compare-and-set, reaper.

Marked `engine`: `make test` runs these against PostgreSQL and again against SQLite.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.audit.models import AuditEvent
from portal.runs.choices import Status
from portal.runs.engine import RunContext, execute_run, reap
from portal.runs.kinds import RunKind, register
from portal.runs.models import Lock, LockHeld, Run, RunLine
from tests.conftest import run_in_thread

from .conftest import wait_for

pytestmark = pytest.mark.engine


def _secret_kind(ctx: RunContext):
    ctx.secret("hunter2-very-secret")
    ctx.log("plain hunter2-very-secret")
    ctx.log("b64 aHVudGVyMi12ZXJ5LXNlY3JldA==")
    ctx.log("url hunter2-very-secret%21".replace("secret%21", "secret"))
    ctx.result = {"echo": "hunter2-very-secret"}


def _many_lines(ctx: RunContext):
    for number in range(2500):
        ctx.log(f"line {number}")


def _boom(ctx: RunContext):
    ctx.secret("s3cr3t-token-value")
    raise ValueError("bad thing with s3cr3t-token-value")


def _sleeper(ctx: RunContext):
    ctx.log("sleeping")
    while not ctx.wait(0.05):
        pass
    ctx.check_canceled()


register(RunKind(name="test_secret", label="t", execute=_secret_kind))
register(RunKind(name="test_many", label="t", execute=_many_lines))
register(RunKind(name="test_boom", label="t", execute=_boom))
register(RunKind(name="test_sleep", label="t", execute=_sleeper, cancel_note="left nothing"))


def lines_of(run):
    return list(RunLine.objects.filter(run=run).order_by("seq").values_list("seq", "text"))


def test_selfcheck_runs_to_succeeded_with_gapless_lines(transactional_db, monkeypatch):
    monkeypatch.setenv("PORTAL_SELFCHECK_SECONDS", "0.5")
    run = Run.start("selfcheck", target="portal", actor="tester")
    assert run.status == Status.QUEUED
    assert execute_run(run.pk) == Status.SUCCEEDED
    run.refresh_from_db()
    lines = lines_of(run)
    assert [seq for seq, _ in lines] == list(range(1, len(lines) + 1))
    assert any("all checks passed" in text for _, text in lines)
    assert run.started_at and run.finished_at and run.line_count == len(lines)
    actions = list(AuditEvent.objects.filter(run=run).values_list("action", "outcome"))
    assert ("run.start", "success") in actions and ("run.end", "success") in actions


def test_execute_twice_runs_once(transactional_db, monkeypatch):
    monkeypatch.setenv("PORTAL_SELFCHECK_SECONDS", "0.2")
    run = Run.start("selfcheck", target="portal")
    assert execute_run(run.pk) == Status.SUCCEEDED
    count = RunLine.objects.filter(run=run).count()
    assert execute_run(run.pk) is None  # compare-and-set: not queued any more
    assert RunLine.objects.filter(run=run).count() == count


def test_lines_are_batched_and_complete(transactional_db):
    run = Run.start("test_many")
    execute_run(run.pk)
    seqs = list(RunLine.objects.filter(run=run).values_list("seq", flat=True).order_by("seq"))
    assert seqs == list(range(1, 2501))


def test_secrets_are_redacted_in_lines_result_and_error(transactional_db):
    run = Run.start("test_secret")
    execute_run(run.pk)
    text = "\n".join(t for _, t in lines_of(run))
    assert "hunter2" not in text and "aHVudGVyMi12ZXJ5LXNlY3JldA" not in text
    assert text.count("***") == 3
    run.refresh_from_db()
    assert run.result == {"echo": "***"}
    boom = Run.start("test_boom")
    execute_run(boom.pk)
    boom.refresh_from_db()
    assert boom.status == Status.FAILED
    assert "s3cr3t-token-value" not in boom.error
    assert "ValueError: bad thing with ***" == boom.error
    assert "s3cr3t" not in "\n".join(t for _, t in lines_of(boom))


def test_lock_refuses_second_run_naming_the_holder(db):
    first = Run.start("selfcheck", target="env:dev", lock_key="env:dev", actor="alice")
    with pytest.raises(LockHeld) as held:
        Run.start("selfcheck", target="env:dev", lock_key="env:dev")
    assert held.value.holder == first
    assert f"run #{first.pk}" in str(held.value)
    assert Run.objects.count() == 1  # the refused run was not created


def test_lock_is_freed_when_the_run_ends(transactional_db, monkeypatch):
    monkeypatch.setenv("PORTAL_SELFCHECK_SECONDS", "0.1")
    first = Run.start("selfcheck", lock_key="env:dev")
    execute_run(first.pk)
    assert not Lock.objects.filter(key="env:dev").exists()
    second = Run.start("selfcheck", lock_key="env:dev")
    assert Lock.holder("env:dev") == second


def test_scheduled_run_on_held_lock_is_skipped_and_audited(db):
    holder = Run.start("selfcheck", lock_key="env:prod")
    skipped = Run.start("selfcheck", lock_key="env:prod", scheduled=True, target="env:prod")
    assert skipped is None
    event = AuditEvent.objects.get(action="schedule.skipped")
    assert event.outcome == "skipped" and event.detail["holder"] == holder.pk
    assert Run.objects.count() == 1


def test_cancel_of_a_queued_run_ends_it_and_frees_the_lock(db):
    run = Run.start("selfcheck", lock_key="env:dev")
    assert run.request_cancel(actor="tester")
    run.refresh_from_db()
    assert run.status == Status.CANCELED and run.finished_at
    assert not Lock.objects.filter(key="env:dev").exists()
    assert execute_run(run.pk) is None


def test_cancel_of_a_running_run_stops_it_within_two_seconds(transactional_db):
    run = Run.start("test_sleep", lock_key="env:dev")
    thread = run_in_thread(run.pk)
    wait_for(lambda: Run.objects.get(pk=run.pk).status == Status.RUNNING, message="running")
    asked = time.monotonic()
    run.request_cancel(actor="tester")
    thread.join(timeout=5)
    assert time.monotonic() - asked < 2.0
    run.refresh_from_db()
    assert run.status == Status.CANCELED
    assert run.error == "canceled by tester"
    assert lines_of(run)[-1][1] == "left nothing"
    assert not Lock.objects.filter(key="env:dev").exists()


def test_reaper_fails_runs_without_heartbeat_and_frees_locks(db):
    run = Run.start("selfcheck", lock_key="env:dev")
    old = timezone.now() - timedelta(seconds=120)
    Run.objects.filter(pk=run.pk).update(status=Status.RUNNING, started_at=old,
                                         heartbeat_at=old, worker="elsewhere:1")
    fresh = Run.start("selfcheck", lock_key="env:test")
    Run.objects.filter(pk=fresh.pk).update(status=Status.RUNNING, heartbeat_at=timezone.now(),
                                           worker="elsewhere:2")
    assert reap() == [run.pk]
    run.refresh_from_db()
    assert run.status == Status.FAILED and "stopped sending heartbeats" in run.error
    assert not Lock.objects.filter(key="env:dev").exists()
    assert Lock.objects.filter(key="env:test").exists()
    assert "FAILED" in lines_of(run)[-1][1]


def test_reaper_at_startup_fails_runs_of_dead_local_processes(db):
    import socket
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    run = Run.start("selfcheck", lock_key="env:dev")
    Run.objects.filter(pk=run.pk).update(
        status=Status.RUNNING, heartbeat_at=timezone.now(),
        worker=f"{socket.gethostname()}:{dead.pid}",
    )
    assert reap(startup=False) == []
    assert reap(startup=True) == [run.pk]


def test_stale_lock_of_a_finished_run_is_taken_over(db):
    old = Run.start("selfcheck", lock_key="env:dev")
    Run.objects.filter(pk=old.pk).update(status=Status.FAILED)  # crash left the lock behind
    new = Run.start("selfcheck", lock_key="env:dev")
    assert Lock.holder("env:dev") == new


def test_a_long_queued_run_is_handed_to_the_queue_again(transactional_db, monkeypatch):
    from django_q.models import OrmQ

    monkeypatch.setenv("PORTAL_SELFCHECK_SECONDS", "0.1")
    run = Run.start("selfcheck", lock_key="env:dev")  # committed: enqueued on commit
    assert OrmQ.objects.count() == 1 and Run.objects.get(pk=run.pk).enqueued_at
    OrmQ.objects.all().delete()  # the broker lost it (e.g. Redis restarted)
    assert reap() == [] and OrmQ.objects.count() == 0  # too early to tell
    Run.objects.filter(pk=run.pk).update(enqueued_at=timezone.now() - timedelta(minutes=11))
    reap()
    assert OrmQ.objects.count() == 1
    run.refresh_from_db()
    assert run.status == Status.QUEUED and run.enqueued_at > timezone.now() - timedelta(minutes=1)
    assert "handed to the task queue again" in lines_of(run)[-1][1]
    assert execute_run(run.pk) == Status.SUCCEEDED  # the first copy runs it
    assert execute_run(run.pk) is None  # a second copy finds it done and does nothing
