"""What the owner can do with backups: register a source, back it up now, apply its
retention, restore a backup, run a restore drill. The only functions the UI views and the
API views call (the schedules in jobs.py start their runs here too). A run is started
through Run.start: lock, run and audit event in one transaction, enqueued after commit. A
refusal is a DomainError (portal.errors) saying why; a held lock is LockHeld."""

from __future__ import annotations

import os

from django.db import IntegrityError, transaction

from envs.guards import require_confirmation
from envs.models import Environment
from portal.audit.models import record
from portal.errors import Conflict, Invalid, NotConfigured, NotFound
from portal.runs.models import Run

from . import bucket, volume
from .models import Backup, BackupSource, Kind


def _started(run: Run | None) -> Run:
    assert run is not None  # only scheduled runs come back None
    return run


def require_bucket(action: str) -> None:
    """Refuse before anything is written when there is no backup bucket to use: every
    backup, retention, restore and drill reads or writes it."""
    if not bucket.configured():
        raise NotConfigured(detail=f"{action} needs a backup bucket: {bucket.HOW_TO_SET}",
                            setting=bucket.SETTING)


# --------------------------------------------------------------------------- sources


def register_source(env: Environment, data: dict, request=None) -> BackupSource:
    """Create a source from validated data (serializers.SourceSerializer)."""
    try:
        with transaction.atomic():
            source = BackupSource.objects.create(environment=env, **data)
            record("backup.source_added", target=env.target, request=request,
                   source=source.name, kind=source.kind, encrypt=source.encrypt)
    except IntegrityError:
        raise Conflict("exists", f"{env.name} already has a backup source named "
                       f"{data['name']!r}",
                       fields={"name": ["already exists in this environment"]}) from None
    return source


def source_named(env: Environment, name: str) -> BackupSource:
    source = BackupSource.objects.filter(environment=env, name=name).first()
    if source is None:
        raise NotFound(detail=f"{env.name} has no backup source named {name!r}",
                       fields={"source": ["no such backup source"]})
    return source


# --------------------------------------------------------------------------- backups


def _backup_run(source: BackupSource, request=None, scheduled: bool = False) -> Run | None:
    return Run.start("backup", target=source.environment.target, lock_key=source.lock_key,
                     params={"source": source.pk, "name": source.name},
                     scheduled=scheduled, request=request)


def start_backup(source: BackupSource, request=None) -> Run:
    """A backup of the source now (lock ``backup:<env>/<source>``)."""
    require_bucket(f"A backup of {source.name}")
    return _started(_backup_run(source, request))


def start_scheduled_backup(source: BackupSource) -> Run | None:
    """The schedule's backup: None (skipped, audited) while the source's lock is held."""
    return _backup_run(source, scheduled=True)


def start_retention(source: BackupSource, request=None) -> Run:
    """Apply the source's retention on the bucket now."""
    require_bucket(f"Retention of {source.name}")
    return _started(Run.start("backup_retention", target=source.environment.target,
                              lock_key=source.lock_key,
                              params={"source": source.pk, "name": source.name},
                              request=request))


# --------------------------------------------------------------------------- restores


def start_restore(backup: Backup, data=None, request=None) -> Run:
    """Checks, the prod guard, then a restore run holding the environment's lock."""
    env = backup.source.environment
    data = data or {}
    if backup.source.kind == Kind.GIT:
        raise Invalid("not_restorable", "a git bundle is restored by hand: "
                      "`git clone <bundle>`")
    if backup.deleted_at:
        raise Conflict("deleted", f"backup #{backup.pk} was deleted ({backup.deleted_reason})")
    if not backup.is_verified:
        raise Conflict("not_verified", f"backup #{backup.pk} is {backup.verification}: only "
                       "verified backups are restored")
    require_bucket(f"A restore of backup #{backup.pk}")
    require_confirmation(env, data)
    params: dict = {"backup": backup.pk, "source": backup.source.name}
    if backup.source.kind == Kind.VOLUME:
        params.update(_volume_restore_params(backup, data))
    return _started(Run.start("restore", target=env.target, lock_key=env.lock_key,
                              params=params, request=request))


def _volume_restore_params(backup: Backup, data) -> dict:
    """Into a new directory (default ``<path>.restored-<id>``); over the live path only when
    ``replace_live`` repeats the live path exactly."""
    source = backup.source
    replace = str(data.get("replace_live") or "").strip()
    if replace:
        if replace.rstrip("/") != source.path.rstrip("/"):
            raise Invalid("confirm_live", f"to replace the live path, replace_live must be "
                          f"exactly {source.path!r}",
                          fields={"replace_live": ["must repeat the live path"]})
        return {"replace_live": True, "target": source.path}
    target = str(data.get("target") or "").strip() or volume.default_target(source, backup)
    if not os.path.isabs(target) or ".." in target.split("/"):
        raise Invalid("bad_target", "the target must be an absolute path without '..'",
                      fields={"target": ["an absolute path"]})
    if not volume.under_volume_roots(target):
        raise Invalid("bad_target", f"{target} is not under a directory volume restores may "
                      "write to (PORTAL_BACKUP_VOLUME_ROOTS)",
                      fields={"target": ["outside PORTAL_BACKUP_VOLUME_ROOTS"]})
    if volume.touches_live(source, target):
        raise Invalid("confirm_live", f"{target} is the live path {source.path} or inside "
                      "it: restore elsewhere, or confirm with replace_live",
                      fields={"target": ["is (inside) the live path"]})
    return {"target": target}


# --------------------------------------------------------------------------- drills


def _drill_run(env: Environment, request=None, scheduled: bool = False,
               source: BackupSource | None = None) -> Run | None:
    params: dict = {"environment": env.name}
    if source is not None:
        params["source"] = source.pk
    return Run.start("restore_drill", target=env.target, lock_key=f"drill:{env.name}",
                     params=params, scheduled=scheduled, request=request)


def start_drill(env: Environment, source_name: str = "", request=None) -> Run:
    """A restore drill of every PostgreSQL source of the environment (or of one)."""
    source = None
    if source_name:
        source = BackupSource.objects.filter(environment=env, name=source_name).first()
        if source is None:
            raise NotFound(detail=f"{env.name} has no backup source named {source_name!r}")
    if not env.backup_sources.filter(kind=Kind.POSTGRES).exists():
        raise NotConfigured("no_sources", f"{env.name} has no PostgreSQL backup source to "
                            "drill", status=400)
    require_bucket(f"A restore drill of {env.name}")
    return _started(_drill_run(env, request, source=source))


def start_scheduled_drill(env: Environment) -> Run | None:
    """The weekly drill: None (skipped, audited) while a drill of the environment runs."""
    return _drill_run(env, scheduled=True)
