"""When a backup source is overdue: a scheduled source without a verified backup within
``PORTAL_BACKUP_MAX_AGE_HOURS`` (a weekly source: six days more), counted from its newest
verified backup, or from when it was added if it never had one. The one rule: the periodic
``backup.overdue`` check (envs/notifications/checks.py) and the environment Overview
(sections.py) both call :func:`overdue_sources`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Q, QuerySet

from .models import BackupSource, Frequency, Verification

WEEKLY_SLACK_HOURS = 144  # a weekly source is due six days after a daily one


@dataclass(frozen=True)
class Overdue:
    source: BackupSource
    last: datetime | None  # its newest verified backup, None if it never had one
    since: datetime  # ``last``, else when the source was added
    max_age_hours: int


def max_age_hours(frequency: str) -> int:
    """How old a source's newest verified backup may get before it is overdue."""
    return settings.BACKUP_MAX_AGE_HOURS + (WEEKLY_SLACK_HOURS
                                            if frequency == Frequency.WEEKLY else 0)


def overdue_sources(now: datetime, sources: QuerySet[BackupSource] | None = None
                    ) -> list[Overdue]:
    """The scheduled sources among ``sources`` (default: all) that are overdue at ``now``,
    in one query."""
    queryset = BackupSource.objects.all() if sources is None else sources
    late = []
    for source in queryset.exclude(frequency=Frequency.OFF).annotate(last=Max(
            "backups__created_at", filter=Q(backups__verification=Verification.VERIFIED,
                                            backups__deleted_at__isnull=True))):
        hours = max_age_hours(source.frequency)
        since = source.last or source.created_at
        if now - since > timedelta(hours=hours):
            late.append(Overdue(source, source.last, since, hours))
    return late
