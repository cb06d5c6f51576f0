"""The periodic checks (backup.overdue, secret.overdue, run.stuck: once per window), the
schedules they are registered as, and the heartbeat (only when web, worker, scheduler and
database are healthy)."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from envs.backups.models import Backup, BackupSource, Verification
from envs.models import Environment
from envs.notifications import checks, heartbeat
from envs.notifications.models import Notification
from envs.secrets.models import Secret
from portal.runs.choices import Status
from portal.runs.models import Run
from portal.runs.schedules import SCHEDULES

from .fakes.receivers import JsonReceiver


@pytest.fixture
def env(db):
    return Environment.objects.create(name="prod", tier="prod")


def events():
    return list(Notification.objects.order_by("id").values_list("event", flat=True))


def test_backup_overdue_at_most_once_a_day_per_source(env, settings):
    settings.BACKUP_MAX_AGE_HOURS = 26
    now = timezone.now()
    source = BackupSource.objects.create(environment=env, name="db", at=time(2, 0),
                                         created_at=now - timedelta(days=10))
    BackupSource.objects.create(environment=env, name="manual", frequency="off",
                                created_at=now - timedelta(days=10))
    fresh = BackupSource.objects.create(environment=env, name="new", created_at=now)
    Backup.objects.create(source=source, key="a", sha256="x", created_at=now - timedelta(
        hours=30), verification=Verification.VERIFIED)
    assert checks.backups_overdue(now) == 1
    assert checks.backups_overdue(now + timedelta(hours=5)) == 0
    n = Notification.objects.get()
    assert n.event == "backup.overdue" and n.environment == "prod"
    assert "No verified backup of db for 26 h" in n.subject
    assert "30 h ago" in n.body and "/envs/prod/backups/" in n.body
    assert checks.backups_overdue(now + timedelta(hours=27)) == 2  # next day: db and new
    Backup.objects.create(source=source, key="b", sha256="y", created_at=now + timedelta(
        hours=40), verification=Verification.VERIFIED)
    assert fresh.pk and checks.backups_overdue(now + timedelta(hours=52)) == 1  # only "new"


def test_secret_overdue_once_a_week_per_environment(env):
    now = timezone.now()
    for name in ("A_KEY", "B_KEY"):
        Secret.objects.create(environment=env, name=name, value="v", version=1,
                              set_at=now - timedelta(days=100), max_age_days=90)
    Secret.objects.create(environment=env, name="FRESH", value="v", version=1, set_at=now)
    assert checks.secrets_overdue(now) == 1
    assert checks.secrets_overdue(now + timedelta(days=1)) == 0
    n = Notification.objects.get()
    assert "2 secret(s) overdue" in n.subject and "A_KEY, B_KEY" in n.body
    assert checks.secrets_overdue(now + timedelta(days=8)) == 1


def test_run_stuck_once_per_run(env, settings):
    settings.NOTIFY_STUCK_MINUTES = 60
    now = timezone.now()
    run = Run.objects.create(kind="selfcheck", target="env:prod", status=Status.RUNNING,
                             started_at=now - timedelta(minutes=90), worker="host:1")
    Run.objects.create(kind="selfcheck", target="env:prod", status=Status.RUNNING,
                       started_at=now - timedelta(minutes=10))
    assert checks.runs_stuck(now) == 1
    assert checks.runs_stuck(now + timedelta(minutes=30)) == 0
    n = Notification.objects.get()
    assert n.run_id == run.pk and f"run #{run.pk} is stuck" in n.subject
    assert "longer than the 60 minutes" in n.body
    # A kind with its own timeout uses it: a backup may run for hours.
    assert checks.expected_minutes("backup") > 60


def test_the_schedules_are_registered():
    names = [name for name in SCHEDULES if name.startswith("notifications:")]
    assert len(names) == 3
    funcs = {SCHEDULES[n]["func"] for n in names}
    assert funcs == {"envs.notifications.jobs.deliver", "envs.notifications.jobs.checks",
                     "envs.notifications.jobs.heartbeat"}


@pytest.fixture
def monitor():
    r = JsonReceiver().start()
    yield r
    r.close()


def test_heartbeat_only_when_everything_is_healthy(live_server, settings, monitor):
    settings.HEARTBEAT_URL = f"http://127.0.0.1:{monitor.port}/ping/abc-uuid"
    settings.HEARTBEAT_WEB_URL = f"{live_server.url}/healthz"
    assert heartbeat.beat() == {"status": "sent"}
    assert monitor.pings == ["/ping/abc-uuid"]
    assert heartbeat.last().value == "sent"
    # The scheduler stopped: its schedules are overdue.
    late = Schedule.objects.create(func="portal.runs.engine.reap_task", schedule_type="I",
                                   minutes=1, repeats=-1,
                                   next_run=timezone.now() - timedelta(minutes=10))
    outcome = heartbeat.beat()
    assert outcome["status"] == "skipped" and "scheduler" in outcome["problems"][0]
    late.delete()
    # The web process is down.
    settings.HEARTBEAT_WEB_URL = f"http://127.0.0.1:{monitor.port + 1}/healthz"
    outcome = heartbeat.beat()
    assert outcome["status"] == "skipped" and "web" in outcome["problems"][0]
    assert monitor.pings == ["/ping/abc-uuid"]
    assert "abc-uuid" not in heartbeat.last().value
    settings.HEARTBEAT_URL = ""
    assert heartbeat.beat() == {"status": "off"}


def test_healthz_stays_data_free(client, db):
    response = client.get("/healthz")
    assert response.json() == {"status": "ok"}
