"""Notifications end to end against real receivers: events from run status changes, one
delivery per channel, grouping, dedup, retries with backoff, faults, redaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from envs.models import Environment
from envs.notifications import jobs
from envs.notifications.delivery import deliver_pass
from envs.notifications.models import Channel, Delivery, DeliveryStatus, Notification
from envs.notifications.services import create_channel
from portal.runs.choices import Status
from portal.runs.models import Run

from .fakes.receivers import JsonReceiver, SmtpReceiver


@pytest.fixture
def receiver():
    r = JsonReceiver().start()
    yield r
    r.close()


@pytest.fixture
def smtp():
    r = SmtpReceiver().start()
    yield r
    r.close()


@pytest.fixture(autouse=True)
def notify_settings(settings):
    settings.NOTIFY_ALLOW_PRIVATE = True
    settings.NOTIFY_TIMEOUT = 2
    settings.NOTIFY_RETRY_MINUTES = [1, 5, 30, 120]
    settings.NOTIFY_MAX_PER_MINUTE = 3
    settings.NOTIFY_FAILING_AFTER = 3
    settings.PUBLIC_URL = "https://portal.example.com"
    return settings


@pytest.fixture
def dev(db):
    return Environment.objects.create(name="dev", tier="dev")


def channel(receiver, name="phone", **extra):
    return create_channel({"name": name, "url": receiver.url(password="hook-pass-123"),
                           **extra})


def fail_run(kind="selfcheck", env="dev", error="boom: the thing broke\nsecond line",
             **fields):
    run = Run.objects.create(kind=kind, target=f"env:{env}" if env else "", actor="owner",
                             status=Status.RUNNING, started_at=timezone.now(), **fields)
    assert run.transition(Status.RUNNING, Status.FAILED, error=error,
                          finished_at=timezone.now())
    return run


def succeed_run(kind, env="dev", result=None, status=Status.SUCCEEDED, **fields):
    run = Run.objects.create(kind=kind, target=f"env:{env}", actor="owner",
                             status=Status.RUNNING, started_at=timezone.now(), **fields)
    Run.objects.filter(pk=run.pk).update(result=result or {})
    run.refresh_from_db()
    assert run.transition(Status.RUNNING, status, finished_at=timezone.now())
    return run


def test_a_failed_run_reaches_the_channel_with_what_where_why_and_link(dev, receiver):
    channel(receiver)
    run = fail_run()
    notification = Notification.objects.get(run=run)
    assert notification.event == "run.failed"
    assert Delivery.objects.get().status == DeliveryStatus.QUEUED
    jobs.deliver()
    [message] = receiver.wait_for(1)
    assert message["title"].startswith("[dev] ")
    assert f"run #{run.pk}" in message["title"]
    body = message["message"]
    assert "Reason: boom: the thing broke" in body and "second line" not in body
    assert f"https://portal.example.com/runs/{run.pk}/" in body
    assert "by owner" in body
    assert message["_auth"] == "portal:hook-pass-123"
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 1)


def test_mail_to_a_real_smtp_server(dev, smtp):
    create_channel({"name": "mail", "url": smtp.url()})
    run = fail_run(kind="backup", params={"name": "db", "source": 999})
    jobs.deliver()
    [mail] = smtp.wait_for(1)
    assert "Backup of db failed" in mail["subject"]
    assert f"/runs/{run.pk}/" in mail["body"]
    assert mail["to"] == ["owner@example.com"]


def test_specific_event_first_then_generic_one_message_per_channel(dev, receiver):
    both = JsonReceiver().start()
    try:
        channel(receiver, "wants-backup", events=["backup.failed", "run.failed"])
        create_channel({"name": "generic", "url": both.url(), "events": ["run.failed"]})
        fail_run(kind="backup", params={"name": "db"})
        jobs.deliver()
        assert "Backup of db failed" in receiver.wait_for(1)[0]["title"]
        assert "Backup failed (run #" in both.wait_for(1)[0]["title"]
        assert Delivery.objects.count() == 2
    finally:
        both.close()


def test_events_and_environments_filter_channels(dev, receiver):
    Environment.objects.create(name="prod", tier="prod")
    channel(receiver, events=["plan.ready"], environments=["prod"])
    fail_run()
    succeed_run("plan", env="dev", result={"changes": True, "counts": {"add": 1}},
                status=Status.PLANNED)
    assert Delivery.objects.count() == 0
    run = succeed_run("plan", env="prod", result={"changes": True, "counts": {"add": 2},
                                                  "review": "/plans/7/"},
                      status=Status.PLANNED)
    jobs.deliver()
    [message] = receiver.wait_for(1)
    assert "awaits your approval (2 to add)" in message["title"]
    assert "https://portal.example.com/plans/7/" in message["message"]
    assert Notification.objects.filter(event="plan.ready", run=run).exists()


def test_plan_without_changes_and_canceled_runs_say_nothing(dev, receiver):
    channel(receiver, events=["*"])
    succeed_run("plan", result={"changes": False})
    run = Run.objects.create(kind="selfcheck", target="env:dev", status=Status.RUNNING)
    run.transition(Status.RUNNING, Status.CANCELED)
    assert Notification.objects.count() == 0


def test_drift_detected_once_until_resolved(dev, receiver):
    channel(receiver, events=["drift.detected", "drift.resolved"])
    for _ in range(3):
        succeed_run("drift", result={"drift": "drifted", "drifted": 2})
    assert list(Notification.objects.values_list("event", flat=True)) == ["drift.detected"]
    succeed_run("drift", result={"drift": "in-sync", "drifted": 0})
    succeed_run("drift", result={"drift": "in-sync", "drifted": 0})
    succeed_run("drift", result={"drift": "drifted", "drifted": 1})
    events = list(Notification.objects.order_by("id").values_list("event", flat=True))
    assert events == ["drift.detected", "drift.resolved", "drift.detected"]


def test_deploy_events(dev, receiver):
    channel(receiver, events=["*"])
    succeed_run("deploy", result={"image": "app:2", "workload": "deployment/web"})
    fail_run(kind="deploy", error="rollout of app:3 on deployment/web failed: crash; "
             "rolled back to app:2")
    fail_run(kind="deploy", error="rollout of app:4 failed: x; not rolled back because ...")
    events = list(Notification.objects.order_by("id").values_list("event", flat=True))
    assert events == ["deploy.succeeded", "deploy.rolled_back", "run.failed", "run.failed"]
    # One delivery per cause: the rolled-back deploy reaches the channel once.
    assert Delivery.objects.count() == 3


def test_grouping_a_burst_becomes_a_handful_of_messages(dev, receiver):
    channel(receiver)
    for _ in range(100):
        fail_run()
    stats = deliver_pass()
    assert stats["sent"] == 100 and stats["messages"] == 1
    [digest] = receiver.wait_for(1)
    assert digest["title"].startswith("100 portal events: 100 run.failed")
    assert "... and 92 more" in digest["message"]
    # More failures in the same minute: up to the per-minute limit, then they wait.
    for _ in range(3):
        for _ in range(5):
            fail_run()
        deliver_pass()
    assert len(receiver.messages) == 3
    waiting = Delivery.objects.filter(status=DeliveryStatus.QUEUED)
    assert waiting.count() == 5
    assert waiting.first().next_attempt_at > timezone.now()
    # A minute later the waiting ones go out as one digest.
    deliver_pass(now=timezone.now() + timedelta(minutes=1, seconds=5))
    assert len(receiver.wait_for(4)) == 4
    assert Delivery.objects.exclude(status=DeliveryStatus.SENT).count() == 0


def test_dedup_key_is_not_sent_twice_within_its_window(dev, receiver):
    from envs.notifications.messages import Draft
    from envs.notifications.outbox import emit

    channel(receiver, events=["*"])
    draft = Draft(event="backup.overdue", subject="x", body="y", environment="dev",
                  dedup_key="backup.overdue:1", window=timedelta(days=1))
    assert len(emit([draft])) == 1
    assert emit([draft]) == []
    Notification.objects.update(created_at=timezone.now() - timedelta(days=2))
    assert len(emit([draft])) == 1


@pytest.mark.parametrize("fault", ["500", "hang", "closed"])
def test_faults_retry_with_backoff_then_fail_and_the_run_is_unaffected(dev, receiver, fault):
    ch = channel(receiver)
    if fault == "closed":
        receiver.close()
    else:
        receiver.mode = fault
        receiver.hang_seconds = 5
    run = fail_run()
    run.refresh_from_db()
    assert run.status == Status.FAILED
    started = timezone.now()
    deliver_pass()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING and delivery.attempts == 1
    assert delivery.last_error
    assert "hook-pass-123" not in delivery.last_error
    assert timedelta(seconds=50) < delivery.next_attempt_at - started < timedelta(minutes=2)
    gaps = []
    moment = timezone.now()
    for _ in range(4):
        moment = Delivery.objects.get().next_attempt_at + timedelta(seconds=1)
        previous = Delivery.objects.get().next_attempt_at
        deliver_pass(now=moment)
        delivery = Delivery.objects.get()
        if delivery.status == DeliveryStatus.RETRYING:
            gaps.append(round((delivery.next_attempt_at - previous).total_seconds() / 60))
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 5
    assert gaps == [5, 30, 120]
    ch.refresh_from_db()
    assert ch.consecutive_failures == 5
    run.refresh_from_db()
    assert run.status == Status.FAILED and run.error.startswith("boom")


def test_a_hung_receiver_costs_at_most_the_timeout(dev, receiver, settings):
    import time

    channel(receiver)
    receiver.mode = "hang"
    fail_run()
    started = time.monotonic()
    deliver_pass()
    assert time.monotonic() - started < settings.NOTIFY_TIMEOUT + 1.5


def test_delivery_failing_is_sent_to_the_other_channels(dev, receiver, settings):
    settings.NOTIFY_MAX_PER_MINUTE = 10
    other = JsonReceiver().start()
    try:
        broken = channel(receiver, "broken")
        create_channel({"name": "backup-phone", "url": other.url()})
        receiver.close()
        for _ in range(4):
            fail_run()
            deliver_pass()
        texts = other.texts()
        failing = [t for t in texts if "Notifications to broken are failing" in t]
        assert len(failing) == 1
        assert "failed 3 times in a row" in failing[0]
        assert "hook-pass-123" not in "".join(texts)
        assert not Delivery.objects.filter(channel=broken,
                                           notification__event="delivery.failing").exists()
    finally:
        other.close()


def test_a_stale_claim_is_retried_after_a_worker_restart(dev, receiver):
    channel(receiver)
    fail_run()
    # A pass claimed it and died mid-send.
    Delivery.objects.update(status=DeliveryStatus.SENDING, claim="dead",
                            claimed_at=timezone.now() - timedelta(minutes=5))
    deliver_pass()
    receiver.wait_for(1)
    assert Delivery.objects.get().status == DeliveryStatus.SENT


def test_disabled_channel_gets_nothing(dev, receiver):
    ch = channel(receiver)
    Channel.objects.filter(pk=ch.pk).update(enabled=False)
    fail_run()
    assert Delivery.objects.count() == 0


def test_backup_suspicious_by_rows_is_flagged_on_the_backup_too(dev, receiver, settings):
    from envs.backups.models import Backup, BackupSource, Verification

    settings.BACKUP_SUSPICIOUS_ROWS_PERCENT = 50
    channel(receiver, events=["backup.suspicious"])
    source = BackupSource.objects.create(environment=dev, name="db")
    Backup.objects.create(source=source, key="old", sha256="a", raw_size=1000,
                          verification=Verification.VERIFIED,
                          row_counts={"public.orders": 1000, "public.users": 10},
                          created_at=timezone.now() - timedelta(days=1))
    same_size = Backup.objects.create(source=source, key="new", sha256="b", raw_size=990,
                                      verification=Verification.VERIFIED,
                                      row_counts={"public.orders": 400, "public.users": 10})
    succeed_run("backup", result={"backup": same_size.pk})
    jobs.deliver()
    [message] = receiver.wait_for(1)
    assert "Suspicious backup of db" in message["title"]
    assert "public.orders 400 rows (was 1000)" in message["message"]
    same_size.refresh_from_db()
    assert same_size.flagged.startswith("suspicious: tables lost rows")
    fine = Backup.objects.create(source=source, key="fine", sha256="c", raw_size=1000,
                                 verification=Verification.VERIFIED,
                                 row_counts={"public.orders": 420, "public.users": 10})
    succeed_run("backup", result={"backup": fine.pk})
    assert Notification.objects.filter(event="backup.suspicious").count() == 1


def test_the_dashboard_flags_failed_deliveries(dev, receiver, signed_in):
    ch = channel(receiver)
    receiver.close()
    fail_run()
    Delivery.objects.update(attempts=4)  # the last attempt
    deliver_pass()
    assert Delivery.objects.get().status == DeliveryStatus.FAILED
    page = signed_in.get("/").content.decode()
    assert "failed deliveries" in page and "1 delivery failed in the last 7 days" in page
    assert f"Channel <strong>{ch.name}</strong> failed 1 time in a row" in page
    assert "hook-pass-123" not in page
