"""Retention, enforced on the bucket itself.

The policy (``plan``) is a pure function of the recorded backups; ``apply`` deletes exactly
the objects it names (and their sha256 sidecars), marks the rows deleted, and lists, without
touching, every object under the source's prefix that the portal does not know.

Policy
------
* ``keep_days`` (default 30): every backup younger than N days is kept; older ones go.
* counts (any of ``keep_daily``/``keep_weekly``/``keep_monthly`` set): the newest VERIFIED
  backup of each of the N most recent UTC days / ISO weeks / months that have one is kept;
  backups still pending verification are kept; everything else goes.
* Whatever the policy says, the newest verified backup is never deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from portal.lib.s3 import SIDECAR_SUFFIX, S3Store

from .models import Backup, BackupSource, Verification


@dataclass(frozen=True)
class Policy:
    keep_days: int = 30
    daily: int | None = None
    weekly: int | None = None
    monthly: int | None = None

    @classmethod
    def of(cls, source: BackupSource) -> Policy:
        if source.uses_counts:
            return cls(source.keep_days, source.keep_daily or 0, source.keep_weekly or 0,
                       source.keep_monthly or 0)
        return cls(source.keep_days)

    @property
    def uses_counts(self) -> bool:
        return any(v is not None for v in (self.daily, self.weekly, self.monthly))


_BUCKETS: list[tuple[str, Callable[[datetime], tuple]]] = [
    ("daily", lambda t: (t.year, t.month, t.day)),
    ("weekly", lambda t: tuple(t.isocalendar()[:2])),
    ("monthly", lambda t: (t.year, t.month)),
]


def plan(backups: Sequence[Backup], policy: Policy, now: datetime) -> list[Backup]:
    """The backups the policy deletes (newest first). ``backups``: live rows of one source."""
    newest_first = sorted(backups, key=lambda b: (b.created_at, b.pk or 0), reverse=True)
    keep: set[int] = set()
    newest_verified = next((b for b in newest_first if b.is_verified), None)
    if newest_verified is not None:
        keep.add(id(newest_verified))
    if not policy.uses_counts:
        cutoff = now - timedelta(days=policy.keep_days)
        keep |= {id(b) for b in newest_first if b.created_at >= cutoff}
    else:
        for name, bucket_of in _BUCKETS:
            wanted = getattr(policy, name) or 0
            seen: set[tuple] = set()
            for b in newest_first:
                if len(seen) >= wanted:
                    break
                if not b.is_verified:
                    continue
                slot = bucket_of(b.created_at.astimezone(UTC))
                if slot not in seen:
                    seen.add(slot)
                    keep.add(id(b))
        keep |= {id(b) for b in newest_first if b.verification == Verification.PENDING}
    return [b for b in newest_first if id(b) not in keep]


def apply(source: BackupSource, store: S3Store, log: Callable[[str], None],
          now: datetime | None = None) -> dict:
    """Apply the source's policy on the bucket; returns a summary (no secrets)."""
    now = now or timezone.now()
    policy = Policy.of(source)
    live = list(source.backups.filter(deleted_at__isnull=True))
    doomed = plan(live, policy, now)
    log(f"Retention for {source}: {source.retention_text()}; {len(live)} backups recorded, "
        f"{len(doomed)} to delete.")
    known = set(source.backups.values_list("key", flat=True))
    in_bucket = {o.key: o for o in store.list(source.prefix)}
    deleted = []
    for b in doomed:
        keys = [k for k in (b.key, b.key + SIDECAR_SUFFIX) if k in in_bucket]
        if keys:
            store.delete_many(keys)
        Backup.objects.filter(pk=b.pk, deleted_at__isnull=True).update(
            deleted_at=now, deleted_reason=f"retention: {source.retention_text()}")
        deleted.append(b.key)
        log(f"  deleted {b.key} (backup #{b.pk}, {b.created_at:%Y-%m-%d %H:%M} UTC, "
            f"{b.verification})")
    # Objects of rows already marked deleted (a deletion interrupted half-way) go too.
    leftovers = [k for k in in_bucket
                 if _owner_key(k) in known and _owner_key(k) not in {b.key for b in live}
                 and _owner_key(k) not in deleted]
    if leftovers:
        store.delete_many(leftovers)
        log(f"  removed {len(leftovers)} leftover object(s) of backups deleted earlier")
    unknown = sorted(k for k in in_bucket if _owner_key(k) not in known)
    if unknown:
        log(f"  {len(unknown)} object(s) under {source.prefix} are not backups the portal "
            "recorded; listed, NOT deleted:")
        for k in unknown:
            o = in_bucket[k]
            log(f"    {k} ({o.size} bytes, {o.last_modified:%Y-%m-%d %H:%M} UTC)")
    remaining = {b.key for b in live} - set(deleted)
    missing = sorted(k for k in remaining if k not in in_bucket)
    for k in missing:
        log(f"  WARNING: recorded backup {k} is missing from the bucket")
    return {"deleted": deleted, "unknown": unknown, "missing": missing,
            "kept": len(live) - len(deleted)}


def _owner_key(key: str) -> str:
    return key[:-len(SIDECAR_SUFFIX)] if key.endswith(SIDECAR_SUFFIX) else key
