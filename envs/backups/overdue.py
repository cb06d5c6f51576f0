"""How fresh a backup source is, and when it is overdue: a scheduled source without a
verified backup within ``PORTAL_BACKUP_MAX_AGE_HOURS`` (a weekly source: six days more),
counted from its newest verified backup, or from when it was added if it never had one (a
just-added source is "new" until then). A manual-only source (``off``) is never overdue.
The one rule: the periodic ``backup.overdue`` check (envs/notifications/checks.py), the
environment Overview, the Backups tab and the dashboard's backups panel (sections.py) all
call :func:`freshness` (or :func:`overdue_sources`, its overdue rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Q, QuerySet

from .models import BackupSource, Frequency, Verification

WEEKLY_SLACK_HOURS = 144  # a weekly source is due six days after a daily one

FRESH, OVERDUE, NEW, MANUAL = "fresh", "overdue", "new", "manual"


@dataclass(frozen=True)
class Freshness:
    source: BackupSource
    state: str  # FRESH, OVERDUE, NEW (never verified, not yet due) or MANUAL (frequency off)
    last: datetime | None  # its newest verified backup, None if it never had one
    since: datetime  # ``last``, else when the source was added
    max_age_hours: int | None  # None for a manual-only source
    age: str  # how long ago ``since`` was, in words ("30 h", "9 days")

    @property
    def overdue(self) -> bool:
        return self.state == OVERDUE

    @property
    def due(self) -> datetime | None:
        """When the source turns overdue without a new verified backup (None: never)."""
        return None if self.max_age_hours is None else self.since + timedelta(
            hours=self.max_age_hours)


def max_age_hours(frequency: str) -> int:
    """How old a source's newest verified backup may get before it is overdue."""
    return settings.BACKUP_MAX_AGE_HOURS + (WEEKLY_SLACK_HOURS
                                            if frequency == Frequency.WEEKLY else 0)


def age_text(seconds: float) -> str:
    """An age in words, as the Overview, the Backups tab and the dashboard say it."""
    minutes = int(max(0, seconds) // 60)
    hours = minutes // 60
    if hours == 0:
        return f"{minutes} min" if minutes else "less than a minute"
    return f"{hours} h" if hours < 72 else f"{hours // 24} days"


def freshness(now: datetime, sources: QuerySet[BackupSource] | None = None
              ) -> list[Freshness]:
    """Every source among ``sources`` (default: all), in their order, with its state at
    ``now``, in one query. Each source carries ``last`` (its newest verified backup)."""
    queryset = BackupSource.objects.all() if sources is None else sources
    rows = []
    for source in queryset.annotate(last=Max(
            "backups__created_at", filter=Q(backups__verification=Verification.VERIFIED,
                                            backups__deleted_at__isnull=True))):
        since = source.last or source.created_at
        age = age_text((now - since).total_seconds())
        if source.frequency == Frequency.OFF:
            rows.append(Freshness(source, MANUAL, source.last, since, None, age))
            continue
        hours = max_age_hours(source.frequency)
        if now - since > timedelta(hours=hours):
            state = OVERDUE
        else:
            state = FRESH if source.last else NEW
        rows.append(Freshness(source, state, source.last, since, hours, age))
    return rows


def overdue_sources(now: datetime, sources: QuerySet[BackupSource] | None = None
                    ) -> list[Freshness]:
    """The scheduled sources among ``sources`` (default: all) that are overdue at ``now``,
    in one query."""
    queryset = BackupSource.objects.all() if sources is None else sources
    return [row for row in freshness(now, queryset.exclude(frequency=Frequency.OFF))
            if row.overdue]
