"""Run kinds of backups (backup, restore, restore_drill, backup_retention) and schedules.

A run receives only its id; ``ctx.run.params`` names the source/backup by primary key.
The schedule functions start runs through services.py (``start_scheduled_*``: Run.start
with scheduled=True), so a source whose lock is held is skipped (and audited) and tried
again at the next tick. The steps themselves: dump.py (backup and verification), restore.py,
drill.py, gitmirror.py, retention.py.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from portal.audit.models import Outcome, record
from portal.lib.pg import PgConn
from portal.lib.s3 import S3Error
from portal.runs.engine import RunFailed
from portal.runs.kinds import RunKind, register
from portal.runs.models import Run
from portal.runs.schedules import SCHEDULES

from . import bucket, clickhouse, drill, dump, gitmirror, restore, retention, services, volume
from .models import KEY_PREFIX, Backup, BackupSource, Kind

log = logging.getLogger(__name__)

DRILL_EVERY = timedelta(days=7)


def _store(ctx):
    try:
        return bucket.store()
    except bucket.BucketNotConfigured as exc:
        raise RunFailed(str(exc)) from None


def _source(ctx) -> BackupSource:
    source = BackupSource.objects.select_related("environment").filter(
        pk=ctx.run.params.get("source")).first()
    if source is None:
        raise RunFailed("the backup source no longer exists")
    ctx.secret(*source.secrets())
    return source


def _abort_stale(ctx, store, prefix: str) -> None:
    """The janitor, at backup start: uploads older than the backup timeout are dead."""
    try:
        stale = store.abort_stale_uploads(timedelta(seconds=settings.BACKUP_TIMEOUT), prefix)
    except S3Error as exc:
        raise RunFailed(f"cannot reach the backup bucket: {exc}") from None
    for u in stale:
        ctx.log(f"Aborted a stale multipart upload of {u.key} "
                f"(started {u.initiated:%Y-%m-%d %H:%M} UTC)")


def execute_backup(ctx):
    source = _source(ctx)
    store = _store(ctx)
    ctx.log(f"Backup of {source} ({source.get_kind_display()}) to {bucket.describe()}")
    _abort_stale(ctx, store, source.prefix)
    timings = {}
    if source.kind == Kind.GIT:
        backup = gitmirror.backup_git(ctx, source, store)
    elif source.kind == Kind.VOLUME:
        backup = volume.backup_volume(ctx, source)
    elif source.kind == Kind.CLICKHOUSE:
        backup = clickhouse.backup_clickhouse(ctx, source, store)
    else:
        started = time.monotonic()
        backup = dump.backup_postgres(ctx, source, store)
        timings["backup_seconds"] = round(time.monotonic() - started, 3)
        started = time.monotonic()
        dump.verify_postgres(ctx, store, backup)
        timings["verify_seconds"] = round(time.monotonic() - started, 3)
        dump.flag_if_suspicious(ctx, backup)
        backup.refresh_from_db()
    ctx.result = {**timings, "backup": backup.pk, "size": backup.size, "raw_size": backup.raw_size,
                  "sha256": backup.sha256, "verification": backup.verification,
                  "flagged": backup.flagged, "tables": len(backup.row_counts)}
    try:
        ctx.result["retention"] = _retention(ctx, source, store)
    except S3Error as exc:
        raise RunFailed(f"backup #{backup.pk} is stored and verified, but retention "
                        f"failed: {exc}") from None


def _retention(ctx, source: BackupSource, store) -> dict:
    if source.kind == Kind.VOLUME:
        return volume.apply_retention(ctx, source)
    if source.kind == Kind.CLICKHOUSE:
        return clickhouse.apply_retention(ctx, source, store)
    return retention.apply(source, store, ctx.log)


def execute_retention(ctx):
    source = _source(ctx)
    store = _store(ctx)
    try:
        ctx.result = _retention(ctx, source, store)
    except S3Error as exc:
        raise RunFailed(f"retention failed: {exc}") from None


def execute_restore(ctx):
    backup = Backup.objects.select_related("source__environment").filter(
        pk=ctx.run.params.get("backup")).first()
    if backup is None:
        raise RunFailed("the backup no longer exists")
    if backup.deleted_at:
        raise RunFailed(f"backup #{backup.pk} was deleted ({backup.deleted_reason})")
    kind = backup.source.kind
    if kind == Kind.GIT:
        raise RunFailed("only PostgreSQL, volume and ClickHouse backups can be restored by "
                        "the portal; see the README for git bundles")
    ctx.secret(*backup.source.secrets())
    if kind == Kind.VOLUME:
        ctx.result = volume.restore_volume(ctx, backup, ctx.run.params.get("target", ""),
                                           bool(ctx.run.params.get("replace_live")))
    elif kind == Kind.CLICKHOUSE:
        ctx.result = clickhouse.restore_clickhouse(ctx, backup)
    else:
        ctx.result = restore.restore_postgres(ctx, _store(ctx), backup)
    record("backup.restored", target=ctx.run.target, actor=ctx.run.actor, run=ctx.run,
           backup=backup.pk, source=backup.source.name, path=ctx.result["path"],
           kept_as=ctx.result["kept_as"], safety_backup=ctx.result.get("safety_backup"),
           into=ctx.result.get("target") or ctx.result.get("databases"))


def execute_drill(ctx):
    sources = BackupSource.objects.select_related("environment").filter(
        environment__name=ctx.run.params.get("environment"), kind=Kind.POSTGRES)
    if ctx.run.params.get("source"):
        sources = sources.filter(pk=ctx.run.params["source"])
    sources = list(sources)
    if not sources:
        raise RunFailed("no PostgreSQL backup source to drill")
    ctx.secret(settings.DRILL_DATABASE_URL)
    if settings.DRILL_DATABASE_URL:
        ctx.secret(PgConn.parse(settings.DRILL_DATABASE_URL).password)
    for s in sources:
        ctx.secret(*s.secrets())
    store = _store(ctx)
    drills = [drill.drill_postgres(ctx, store, s) for s in sources]
    ctx.result = {"drills": [{"source": d.source.name, "passed": d.passed, "drill": d.pk,
                              "detail": d.detail[:300]} for d in drills]}
    failed = [d for d in drills if not d.passed]
    if failed:
        raise RunFailed("drill failed for " + ", ".join(
            f"{d.source.name} ({d.detail[:200]})" for d in failed))


def register_kinds() -> None:
    timeout = settings.BACKUP_TIMEOUT + 600
    register(RunKind(
        name="backup", label="Backup", execute=execute_backup, mutating=False,
        cancel_note="pg_dump was stopped and the multipart upload aborted: no object was "
                    "left in the bucket and earlier backups are untouched.",
        endpoint="/api/envs/<env>/backups/", timeout=timeout))
    register(RunKind(
        name="restore", label="Restore", execute=execute_restore, mutating=True,
        cancel_note="A cancel before the swap drops the scratch database and leaves the live "
                    "database untouched; once the rename started it completes. An in-place "
                    "restore is rolled back (its safety backup is kept).",
        endpoint="/api/backups/<id>/restore/", timeout=timeout))
    register(RunKind(
        name="restore_drill", label="Restore drill", execute=execute_drill, mutating=False,
        cancel_note="The scratch database of the drill was dropped.",
        endpoint="/api/envs/<env>/restore-drill/", timeout=timeout))
    register(RunKind(
        name="backup_retention", label="Backup retention", execute=execute_retention,
        mutating=True, cancel_note="Deletions done so far stay done; the rest waits for the "
                                   "next backup.", timeout=3600))
    SCHEDULES["backups: due backups and drills"] = {
        "func": "envs.backups.jobs.tick", "schedule_type": "I", "minutes": 10}
    SCHEDULES["backups: abort stale multipart uploads"] = {
        "func": "envs.backups.jobs.abort_stale_uploads", "schedule_type": "H"}


# --- schedules (django-q2 calls these in the worker) ---------------------------------------
def tick(now=None) -> list[int]:
    """Start the backups whose schedule slot has passed, and weekly drills. Returns run ids."""
    now = now or timezone.now()
    started = []
    for source in BackupSource.objects.select_related("environment"):
        if not source.is_due(now):
            continue
        run = services.start_scheduled_backup(source)
        if run is not None:  # skipped (lock held): try again at the next tick
            BackupSource.objects.filter(pk=source.pk).update(last_scheduled_at=now)
            started.append(run.pk)
    envs = {s.environment for s in BackupSource.objects.select_related("environment")
            .filter(kind=Kind.POSTGRES, backups__verification="verified").distinct()}
    for env in envs:
        last = Run.objects.filter(kind="restore_drill", target=env.target).order_by(
            "-created_at").first()
        if last is None or last.created_at < now - DRILL_EVERY:
            run = services.start_scheduled_drill(env)
            if run is not None:
                started.append(run.pk)
    return started


def abort_stale_uploads() -> int:
    if not settings.BACKUP_BUCKET:
        return 0
    try:
        stale = bucket.store().abort_stale_uploads(
            timedelta(seconds=settings.BACKUP_TIMEOUT), KEY_PREFIX + "/")
    except S3Error as exc:
        log.warning("abort_stale_uploads: %s", exc)
        return 0
    for u in stale:
        record("backup.upload_aborted", outcome=Outcome.INFO, target="portal", actor="janitor",
               key=u.key, initiated=u.initiated.isoformat())
    return len(stale)
