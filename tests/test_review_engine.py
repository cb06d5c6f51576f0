"""Review: the reaper against a run whose worker is slow but still alive.

A run whose heartbeats stopped for a while (the database was away, a watcher blocked) is
failed by the reaper and its lock freed. If its worker is in fact alive, the run must stop
at once: going on would mean two runs working on one environment, the second one holding
the lock the first one lost.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from portal.runs.choices import Status
from portal.runs.engine import RunContext, execute_run, reap
from portal.runs.kinds import RunKind, register
from portal.runs.models import Lock, Run, RunLine

from .conftest import wait_for

pytestmark = pytest.mark.engine

STEPS_AFTER_REAP: list[int] = []


def _busy(ctx: RunContext):
    ctx.log("working")
    steps = 0
    while not ctx.wait(0.05):
        if Run.objects.filter(pk=ctx.run.pk, status=Status.FAILED).exists():
            steps += 1  # still working although the reaper failed the run
            if steps > 200:  # ~10 s: the test has failed; end so the thread can be joined
                break
    STEPS_AFTER_REAP.append(steps)
    ctx.log("stopping")
    ctx.check_canceled()


register(RunKind(name="review_busy", label="t", execute=_busy, cancel_note="review note"))


def _lines(run):
    return list(RunLine.objects.filter(run=run).order_by("seq").values_list("seq", "text"))


def test_a_reaped_run_that_is_still_alive_stops_and_keeps_a_gapless_log(transactional_db):
    STEPS_AFTER_REAP.clear()
    run = Run.start("review_busy", target="env:dev", lock_key="env:dev")
    errors: list[BaseException] = []

    def target():
        try:
            execute_run(run.pk)
        except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    wait_for(lambda: RunLine.objects.filter(run=run).exists(), message="first line")
    old = timezone.now() - timedelta(seconds=300)
    Run.objects.filter(pk=run.pk).update(heartbeat_at=old)
    assert reap() == [run.pk]
    assert not Lock.objects.filter(key="env:dev").exists()
    thread.join(timeout=5)
    went_on = thread.is_alive()
    thread.join(timeout=15)  # on failure the kind gives up after ~10 s
    assert not went_on, "the reaped run went on working without its lock"
    assert STEPS_AFTER_REAP and STEPS_AFTER_REAP[0] <= 40, STEPS_AFTER_REAP
    assert errors == []
    run.refresh_from_db()
    assert run.status == Status.FAILED and "heartbeats" in run.error
    lines = _lines(run)
    assert [seq for seq, _ in lines] == list(range(1, len(lines) + 1))
    assert run.line_count == len(lines)
    texts = [text for _, text in lines]
    assert any(text.startswith("FAILED: worker") for text in texts)
    assert "stopping" in texts  # the alive worker's last lines are kept, not lost
