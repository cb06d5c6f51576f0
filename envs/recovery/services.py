"""What the owner can do about the portal itself: back it up now, drill a restore, list
the self-backups, fetch the recovery kit (after a recent sign-in), and what the page shows.
The only functions the page, the API, the commands and the schedules call."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from portal.audit.models import record
from portal.errors import Refused
from portal.runs.models import Run

from . import kit
from .models import KitDownload, PortalDrill, SelfBackup
from .passphrase import keys_fingerprint
from .passphrase import source as passphrase_source
from .signals import SIGNED_IN_AT
from .storage import storage

BACKUP_LOCK, DRILL_LOCK = "portal:self-backup", "portal:drill"


def _started(run: Run | None) -> Run:
    assert run is not None  # only scheduled runs come back None
    return run


def _backup(request: Any = None, scheduled: bool = False, actor: str | None = None,
            enqueue: bool = True) -> Run | None:
    return Run.start("portal_backup", target="portal", lock_key=BACKUP_LOCK, params={},
                     scheduled=scheduled, request=request, actor=actor, enqueue=enqueue)


def start_backup(request: Any = None, actor: str | None = None, enqueue: bool = True) -> Run:
    """A self-backup now (lock ``portal:self-backup``)."""
    return _started(_backup(request, actor=actor, enqueue=enqueue))


def start_scheduled_backup() -> Run | None:
    return _backup(scheduled=True)


def _drill(request: Any = None, scheduled: bool = False, actor: str | None = None,
           enqueue: bool = True) -> Run | None:
    return Run.start("portal_drill", target="portal", lock_key=DRILL_LOCK, params={},
                     scheduled=scheduled, request=request, actor=actor, enqueue=enqueue)


def start_drill(request: Any = None, actor: str | None = None, enqueue: bool = True) -> Run:
    """Restore the newest self-backup into a scratch database, migrate, compare, drop."""
    return _started(_drill(request, actor=actor, enqueue=enqueue))


def start_scheduled_drill() -> Run | None:
    return _drill(scheduled=True)


def backups(include_deleted: bool = False) -> QuerySet[SelfBackup]:
    qs = SelfBackup.objects.all()
    return qs if include_deleted else qs.filter(deleted_at__isnull=True)


def record_skipped_backup(actor: str, reason: str) -> None:
    """The owner started the portal with --skip-backup: no pre-migrate backup."""
    record("portal.self_backup_skipped", target="portal", actor=actor, reason=reason)


def record_pre_migrate_backup(info: dict[str, Any], actor: str) -> SelfBackup:
    """After migrate: the row of the backup taken before it (the models were ahead then)."""
    row = SelfBackup.objects.create(
        key=info["key"], location=info["location"], where=info["where"], size=info["size"],
        sha256=info["sha256"], verified_at=timezone.now(), engine=info["engine"],
        portal_version=info["portal_version"], counts=info["counts"], schema=info["schema"],
        pre_migrate=True)
    record("portal.self_backup", target="portal", actor=actor, key=row.key, size=row.size,
           location=row.location, pre_migrate=True)
    return row


# --------------------------------------------------------------------------- the kit


def reauth_age(request: Any) -> float | None:
    """Seconds since this browser session signed in (None: unknown, e.g. an API token)."""
    at = request.session.get(SIGNED_IN_AT) if hasattr(request, "session") else None
    return time.time() - float(at) if at else None


def kit_allowed(request: Any) -> bool:
    age = reauth_age(request)
    return age is not None and age <= settings.RECOVERY_REAUTH_MINUTES * 60


def download_kit(request: Any) -> str:
    """The kit's text for the signed-in owner, if they signed in within the last
    PORTAL_RECOVERY_REAUTH_MINUTES; the download is recorded and audited (never its text)."""
    if not kit_allowed(request):
        record("recovery.kit_refused", target="portal", request=request,
               reason="no recent sign-in")
        raise Refused("reauth", f"sign in again to download the recovery kit (it is offered "
                      f"for {settings.RECOVERY_REAUTH_MINUTES} minutes after signing in)")
    body = kit.text(timezone.localtime())
    KitDownload.objects.create(actor=request.user.username, fingerprint=keys_fingerprint())
    record("recovery.kit_downloaded", target="portal", request=request)
    return body


def kit_printed(actor: str) -> None:
    KitDownload.objects.create(actor=actor, fingerprint=keys_fingerprint())
    record("recovery.kit_printed", target="portal", actor=actor)


# --------------------------------------------------------------------------- status


def status(now: datetime | None = None) -> dict[str, Any]:
    """What the Recovery page and the dashboard show."""
    now = now or timezone.now()
    last = backups().filter(verified_at__isnull=False).first()
    drill = PortalDrill.objects.filter(passed=True).first()
    last_drill = PortalDrill.objects.first()
    kit_row = KitDownload.objects.first()
    try:
        where = storage()
        where_text, offsite = where.describe(), where.offsite
    except Exception as exc:  # a broken bucket setting must not break the page
        where_text, offsite = f"unavailable: {exc}", False
    return {
        "last_backup": last, "backup_age_hours": ((now - last.created_at).total_seconds() / 3600
                                                  if last else None),
        "drill": drill, "drill_days": (now - drill.created_at).days if drill else None,
        "last_drill": last_drill,
        "kit": kit_row, "kit_stale": bool(kit_row and kit_row.fingerprint != keys_fingerprint()),
        "where": where_text, "offsite": offsite, "passphrase_source": passphrase_source(),
        "hour": settings.SELF_BACKUP_HOUR, "retention_days": settings.SELF_BACKUP_RETENTION_DAYS,
    }
