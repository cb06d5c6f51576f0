"""Secrets bundles in the backup bucket: where they go (``secrets/``, the newest
PORTAL_SECRETS_EXPORT_KEEP kept), the automatic export after every committed change, and
what the dashboard says about it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.conf import settings

from portal.audit.models import Outcome, record
from portal.errors import NotConfigured, NotFound
from portal.lib.s3 import S3Settings, S3Store

from .bundle import export_bytes

log = logging.getLogger(__name__)
PREFIX = "secrets/"
SUFFIX = ".secrets.json.enc"


def passphrase_configured() -> str:
    return settings.SECRETS_EXPORT_PASSPHRASE or ""


def bucket_store() -> S3Store | None:
    """The backup bucket's S3Store (the backups settings), or None when no bucket is
    configured. Read on every call, so a changed setting applies without a restart."""
    if not settings.BACKUP_BUCKET:
        return None
    return S3Store(S3Settings(
        bucket=settings.BACKUP_BUCKET,
        region=settings.AWS_DEFAULT_REGION or "us-east-1",
        endpoint_url=settings.S3_ENDPOINT_URL or None,
        access_key=settings.AWS_ACCESS_KEY_ID or None,
        secret_key=settings.AWS_SECRET_ACCESS_KEY or None,
        max_attempts=2, connect_timeout=5, read_timeout=30,
    ))


def keep_count() -> int:
    return int(settings.SECRETS_EXPORT_KEEP or 30)


def auto_export_status() -> dict:
    """What the dashboard says: on (and where) or off (and why)."""
    missing = []
    if not passphrase_configured():
        missing.append("PORTAL_SECRETS_EXPORT_PASSPHRASE (or _FILE)")
    if not settings.BACKUP_BUCKET:
        missing.append("PORTAL_BACKUP_BUCKET")
    if missing:
        return {"on": False, "missing": missing}
    return {"on": True, "bucket": settings.BACKUP_BUCKET, "prefix": PREFIX,
            "keep": keep_count()}


def export_to_bucket(store: S3Store, passphrase: str) -> tuple[str, int]:
    """Write a new bundle under secrets/ and keep only the newest ``keep_count()``."""
    data, count = export_bytes(passphrase)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    key = f"{PREFIX}{stamp}{SUFFIX}"
    store.put_bytes(key, data, content_type="application/json")
    bundles = sorted((o.key for o in store.list(PREFIX) if o.key.endswith(SUFFIX)),
                     reverse=True)
    stale = bundles[keep_count():]
    if stale:
        store.delete_many(stale)
    return key, count


def latest_bundle_key(store: S3Store) -> str | None:
    keys = sorted(o.key for o in store.list(PREFIX) if o.key.endswith(SUFFIX))
    return keys[-1] if keys else None


def bundle_from_bucket(key: str) -> bytes:
    """A bundle of the backup bucket by key, ``latest``: the newest one."""
    store = bucket_store()
    if store is None:
        raise NotConfigured(detail="no backup bucket: set PORTAL_BACKUP_BUCKET")
    found = latest_bundle_key(store) if key == "latest" else key
    if found is None:
        raise NotFound(detail=f"no bundle under s3://{store.bucket}/{PREFIX}")
    return store.get_bytes(found)


def export_to_bucket_if_configured() -> str | None:
    """Called after every committed secret change. Never raises: a failed export is logged
    and audited (without values); the change itself stands."""
    passphrase = passphrase_configured()
    store = bucket_store() if passphrase else None
    if store is None:
        return None
    try:
        key, count = export_to_bucket(store, passphrase)
    except Exception as exc:  # S3 down or misconfigured: the change must still stand
        log.warning("automatic secrets export failed: %s", type(exc).__name__)
        record("secrets.export", outcome=Outcome.FAILURE, actor="system", automatic=True,
               error=f"{type(exc).__name__}: {str(exc)[:300]}")
        return None
    record("secrets.export", actor="system", automatic=True, key=key, count=count)
    return key
