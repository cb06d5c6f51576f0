"""Retention of self-backups: keep everything younger than PORTAL_SELF_BACKUP_RETENTION_DAYS,
delete the older ones, and never the newest verified one (nor the newest at all when none
is known verified)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from .storage import Storage


def apply(store: Storage, now: datetime, keep_days: int, verified: set[str],
          log: Callable[[str], None]) -> list[str]:
    found = store.list()  # newest first
    if not found:
        return []
    protected = next((s.key for s in found if s.key in verified), found[0].key)
    cutoff = now - timedelta(days=keep_days)
    deleted = []
    for item in found:
        if item.modified < cutoff and item.key != protected:
            store.delete(item.key)
            deleted.append(item.key)
            log(f"Retention: deleted {item.key} (from {item.modified:%Y-%m-%d}, older than "
                f"{keep_days} days)")
    return deleted
