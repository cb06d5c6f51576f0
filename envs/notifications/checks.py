"""The periodic checks (a django-q2 schedule every few minutes): what is wrong because
nothing happened. Each fires at most once per window per subject:

- ``backup.overdue``: a scheduled source without a verified backup within
  ``PORTAL_BACKUP_MAX_AGE_HOURS`` (weekly sources: six days more); once a day per source;
- ``secret.overdue``: an environment's secrets past their rotation policy; once a week per
  environment and set of names;
- ``run.stuck``: a run still running past its kind's expected maximum (the kind's timeout,
  else ``PORTAL_NOTIFY_STUCK_MINUTES``); once per run.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from envs.backups.models import BackupSource
from envs.backups.overdue import overdue_sources
from envs.secrets.models import Secret
from portal.runs import kinds
from portal.runs.choices import Status
from portal.runs.models import Run

from . import messages
from .messages import Draft
from .models import Event
from .outbox import emit


def run_all(now: datetime | None = None) -> dict:
    now = now or timezone.now()
    return {"backup.overdue": backups_overdue(now), "secret.overdue": secrets_overdue(now),
            "run.stuck": runs_stuck(now)}


def backups_overdue(now: datetime) -> int:
    fired = 0
    sources = BackupSource.objects.select_related("environment").defer(
        "database_url", "admin_url", "repo_url", "repo_token", "encryption_key",
        "environment__kubeconfig", "environment__tf_git_token",
        "environment__backend_credentials", "environment__tf_secret_variables")
    for late in overdue_sources(now, sources):
        source, hours = late.source, late.max_age_hours
        env = source.environment.name
        last = (f"The last verified backup is from {messages.when(late.last)} "
                f"({messages.ago(late.last, now)})." if late.last
                else "There has never been a verified backup of it.")
        page = f"/envs/{env}/backups/"
        fired += len(emit([Draft(
            event=Event.BACKUP_OVERDUE, environment=env, link=page,
            subject=messages.subject(env, f"No verified backup of {source.name} for {hours} h"),
            body=messages.body(f"Backup source {source.name} ({source.schedule_text()}) has "
                               f"no verified backup within {hours} hours.", last,
                               "Check the latest backup runs for the reason.", link=page),
            dedup_key=f"backup.overdue:{source.pk}", window=timedelta(days=1))], now=now))
    return fired


def secrets_overdue(now: datetime) -> int:
    fired = 0
    by_env: dict[str, list[str]] = {}
    rows = Secret.objects.filter(version__gt=0).values_list(
        "environment__name", "name", "rotated_at", "set_at", "max_age_days")
    for env, name, rotated_at, set_at, max_age in rows:
        if Secret.is_overdue(rotated_at or set_at, max_age, now):
            by_env.setdefault(env, []).append(name)
    for env, names in sorted(by_env.items()):
        names.sort()
        digest = hashlib.sha256(",".join(names).encode()).hexdigest()[:16]
        page = f"/envs/{env}/secrets/"
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10
                                         else "")
        fired += len(emit([Draft(
            event=Event.SECRET_OVERDUE, environment=env, link=page,
            subject=messages.subject(env, f"{len(names)} secret(s) overdue for rotation"),
            body=messages.body(f"Past their rotation policy: {shown}.",
                               "Rotate them from the environment page.", link=page),
            dedup_key=f"secret.overdue:{env}:{digest}", window=timedelta(days=7))], now=now))
    return fired


def expected_minutes(kind: str) -> int:
    try:
        timeout = kinds.get(kind).timeout
    except LookupError:
        timeout = None
    return int(timeout // 60) if timeout else settings.NOTIFY_STUCK_MINUTES


def runs_stuck(now: datetime) -> int:
    fired = 0
    for run in Run.objects.filter(status=Status.RUNNING, started_at__isnull=False):
        limit = expected_minutes(run.kind)
        if run.started_at is None or now - run.started_at <= timedelta(minutes=limit):
            continue
        env = run.target.removeprefix("env:") if run.target.startswith("env:") else ""
        page = f"/runs/{run.pk}/"
        fired += len(emit([Draft(
            event=Event.RUN_STUCK, environment=env, link=page,
            subject=messages.subject(env, f"{run.kind_label} run #{run.pk} is stuck"),
            body=messages.body(f"Running since {messages.when(run.started_at)} "
                               f"({messages.ago(run.started_at, now)}), longer than the "
                               f"{limit} minutes a {run.kind_label.lower()} should take.",
                               f"Worker {run.worker or '?'}; last heartbeat "
                               f"{messages.ago(run.heartbeat_at, now)}.",
                               "Open it to watch the log or cancel it.", link=page),
            dedup_key=f"run.stuck:{run.pk}", window=timedelta(days=30))], run=run, now=now))
    return fired

