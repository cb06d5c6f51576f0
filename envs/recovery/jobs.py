"""Run kinds of recovery (portal_backup, portal_drill) and their schedules.

``portal_backup``: snapshot -> pack -> store -> read back (selfbackup.py), then retention
(retention.py). ``portal_drill``: drill.py. The schedule functions start runs through
services.py, so a held lock skips a tick (audited) and the next one tries again.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from portal.audit.models import record
from portal.runs.engine import RunContext, RunFailed
from portal.runs.kinds import RunKind, register
from portal.runs.models import Run
from portal.runs.schedules import SCHEDULES

from . import drill, retention, selfbackup, services
from .archive import RecoveryError
from .models import PortalDrill, SelfBackup
from .passphrase import passphrase
from .storage import storage

DRILL_EVERY = timedelta(days=7)


def _secrets(ctx: RunContext) -> str:
    phrase = passphrase()
    ctx.secret(phrase, connection.settings_dict.get("PASSWORD") or None,
               settings.AWS_SECRET_ACCESS_KEY or None)
    return phrase


def execute_backup(ctx: RunContext) -> None:
    phrase = _secrets(ctx)
    store = storage()
    ctx.log(f"Self-backup of the portal ({connection.vendor}) to {store.describe()}")
    if not store.offsite:
        ctx.log("Note: a copy on this machine's disk protects against mistakes, not against "
                "losing the machine; set PORTAL_BACKUP_BUCKET for an off-site copy.")
    workdir = Path(ctx.workdir())
    try:
        info = selfbackup.take(store, phrase, workdir, ctx.log)
    except RecoveryError as exc:
        raise RunFailed(str(exc)) from None
    row = SelfBackup.objects.create(
        key=info["key"], location=info["location"], where=info["where"], size=info["size"],
        sha256=info["sha256"], verified_at=timezone.now(), engine=info["engine"],
        portal_version=info["portal_version"], counts=info["counts"], schema=info["schema"],
        run=ctx.run)
    verified = set(SelfBackup.objects.filter(verified_at__isnull=False, deleted_at__isnull=True)
                   .values_list("key", flat=True))
    try:
        deleted = retention.apply(store, timezone.now(), settings.SELF_BACKUP_RETENTION_DAYS,
                                  verified, ctx.log)
    except RecoveryError as exc:
        raise RunFailed(f"self-backup {row.key} is stored and verified, but retention "
                        f"failed: {exc}") from None
    SelfBackup.objects.filter(key__in=deleted).update(deleted_at=timezone.now())
    ctx.result = {k: v for k, v in info.items() if k not in ("counts", "schema")}
    ctx.result.update({"backup": row.pk, "tables": len(info["counts"]),
                       "retention_deleted": len(deleted)})
    record("portal.self_backup", target="portal", actor=ctx.run.actor, run=ctx.run,
           key=row.key, size=row.size, location=row.location)


def execute_drill(ctx: RunContext) -> None:
    phrase = _secrets(ctx)
    store = storage()
    try:
        outcome = drill.run(store, phrase, Path(ctx.workdir()), ctx.log, tag=str(ctx.run.pk))
    except RecoveryError as exc:
        PortalDrill.objects.create(key="", passed=False, detail=str(exc)[:2000], run=ctx.run)
        raise RunFailed(str(exc)) from None
    PortalDrill.objects.create(key=outcome["key"], passed=outcome["passed"],
                               detail=outcome["detail"][:2000], seconds=outcome["seconds"],
                               run=ctx.run)
    ctx.result = outcome
    if not outcome["passed"]:
        raise RunFailed(f"portal drill of {outcome['key']} failed: {outcome['detail']}")
    ctx.log(f"PASSED: {outcome['detail']}")


def register_kinds() -> None:
    timeout = settings.BACKUP_TIMEOUT + 600
    register(RunKind(
        name="portal_backup", label="Portal self-backup", execute=execute_backup,
        mutating=False, endpoint="/api/portal/backups/", timeout=timeout,
        cancel_note="Nothing was stored: the archive was built in the run's directory, which "
                    "is removed; earlier self-backups are untouched."))
    register(RunKind(
        name="portal_drill", label="Portal restore drill", execute=execute_drill,
        mutating=False, endpoint="/api/portal/drills/", timeout=timeout,
        cancel_note="The scratch database of the drill was dropped."))
    SCHEDULES["recovery: daily self-backup and weekly drill"] = {
        "func": "envs.recovery.jobs.tick", "schedule_type": "I", "minutes": 10}


# --- schedules (django-q2 calls these in the worker) ---------------------------------------
def tick(now=None) -> list[int]:
    """Start today's self-backup once its hour has passed, and a drill a week after the last
    one. Returns the run ids started."""
    now = now or timezone.now()
    local = timezone.localtime(now)
    started: list[int] = []
    slot = local.replace(hour=settings.SELF_BACKUP_HOUR, minute=0, second=0, microsecond=0)
    if local >= slot and not Run.objects.filter(kind="portal_backup",
                                                created_at__gte=slot).exists():
        run = services.start_scheduled_backup()
        if run is not None:
            started.append(run.pk)
    last = Run.objects.filter(kind="portal_drill").order_by("-created_at").first()
    if (last is None or last.created_at < now - DRILL_EVERY) and \
            SelfBackup.objects.filter(verified_at__isnull=False).exists():
        run = services.start_scheduled_drill()
        if run is not None:
            started.append(run.pk)
    return started
