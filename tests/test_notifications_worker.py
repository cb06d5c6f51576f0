"""Notifications through the real worker process: a failed run reaches a local receiver; a
hung receiver does not slow the run; queued and retrying deliveries survive a worker
restart (SIGKILL) and go out from the next worker; the worker's log holds no secret."""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from envs.models import Environment
from envs.notifications.models import Delivery, DeliveryStatus
from envs.notifications.services import create_channel
from portal.runs.models import Run

from .conftest import wait_for
from .fakes.receivers import JsonReceiver

SECRET = "worker-hook-secret-9876"
WORKER_ENV = {"PORTAL_NOTIFY_ALLOW_PRIVATE": "1", "PORTAL_NOTIFY_TIMEOUT": "2"}


@pytest.fixture
def receiver():
    r = JsonReceiver().start()
    yield r
    r.close()


@pytest.fixture
def setup(transactional_db, settings, receiver):
    settings.NOTIFY_ALLOW_PRIVATE = True
    Environment.objects.create(name="dev", tier="dev")
    create_channel({"name": "phone", "url": receiver.url(password=SECRET),
                    "events": ["backup.failed", "run.failed"]})
    return receiver


def failing_backup() -> Run:
    run = Run.start("backup", target="env:dev", params={"source": 987654, "name": "db"},
                    actor="scheduler", scheduled=True)
    assert run is not None
    return run


def test_a_failed_run_reaches_the_receiver_through_the_worker(setup, start_worker):
    receiver = setup
    worker = start_worker(**WORKER_ENV)
    run = failing_backup()
    [message] = receiver.wait_for(1, timeout=60)
    run.refresh_from_db()
    assert run.status == "failed"
    assert "Backup of db failed" in message["title"]
    assert f"/runs/{run.pk}/" in message["message"]
    assert Delivery.objects.get().status == DeliveryStatus.SENT
    worker.alive()
    assert SECRET not in worker.log_path.read_text()


def test_a_hung_receiver_does_not_slow_the_run(setup, start_worker):
    receiver = setup
    receiver.mode = "hang"
    receiver.hang_seconds = 20
    start_worker(**WORKER_ENV)
    first = failing_backup()
    wait_for(lambda: Run.objects.get(pk=first.pk).status == "failed", timeout=60)
    wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.RETRYING).exists(),
             timeout=30, message="the first delivery to give up on the hung receiver")
    second = failing_backup()
    wait_for(lambda: Run.objects.get(pk=second.pk).status == "failed", timeout=60)
    second.refresh_from_db()
    # The run's own work and end are not held up by the receiver (timeout 2 s, hang 20 s).
    assert (second.finished_at - second.started_at).total_seconds() < 5


def test_nothing_is_lost_across_a_worker_restart(setup, start_worker):
    receiver = setup
    receiver.mode = "500"
    worker = start_worker(**WORKER_ENV)
    failing_backup()
    wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.RETRYING).exists(),
             timeout=60, message="a failed attempt")
    worker.kill(signal.SIGKILL)
    # While no worker runs: a second failure is written and waits, queued.
    second = Run.objects.create(kind="selfcheck", target="env:dev", status="running",
                                started_at=timezone.now())
    second.transition("running", "failed", error="disk full", finished_at=timezone.now())
    assert Delivery.objects.filter(status=DeliveryStatus.QUEUED).count() == 1
    receiver.mode = "ok"
    # The retry comes due (as it would a minute later) and a new worker starts.
    Delivery.objects.filter(status=DeliveryStatus.RETRYING).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1))
    started = time.monotonic()
    start_worker(**WORKER_ENV)
    wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 2,
             timeout=120, message="both deliveries sent by the new worker")
    assert time.monotonic() - started < 120
    texts = "\n".join(receiver.texts())
    assert "Backup of db failed" in texts and "disk full" in texts
