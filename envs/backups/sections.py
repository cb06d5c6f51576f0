"""The backups parts of the dashboard and of the environment page."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, F, Max, Q
from django.utils import timezone

from envs.sections import attention, dashboard_section, env_section, head

from . import bucket
from .models import Backup, BackupSource, Drill, Frequency, Verification
from .overdue import overdue_sources

FRESH = timedelta(hours=26)  # a daily backup plus slack
WEEKLY_FRESH = FRESH + timedelta(days=6)  # a weekly source (ClickHouse, git) plus slack


def env_status(env, now=None) -> dict:
    """Freshness of an environment's backups and its last successful drill (the same
    figures as :func:`env_statuses`, for one environment)."""
    return env_statuses([env], now)[0]


def env_statuses(envs, now=None) -> list[dict]:
    """Backup freshness, last successful drill and the newest flagged backup of several
    environments in five aggregate queries, whatever the number of environments or rows."""
    now = now or timezone.now()
    ids = [env.pk for env in envs]

    def newest(queryset) -> dict:
        return dict(queryset.filter(source__environment_id__in=ids).order_by()
                    .values("source__environment_id").annotate(last=Max("created_at"))
                    .values_list("source__environment_id", "last"))

    sources = dict(BackupSource.objects.filter(environment_id__in=ids).order_by()
                   .values("environment_id").annotate(n=Count("id"))
                   .values_list("environment_id", "n"))
    # Each source against its own schedule: a weekly ClickHouse backup is fresh for a week,
    # and a failing volume backup warns even while the databases' backups are fine.
    overdue: dict[int, list[dict]] = {}
    for row in (BackupSource.objects.filter(environment_id__in=ids).order_by("name")
                .values("environment_id", "name", "kind", "frequency", "created_at")
                .annotate(last=Max("backups__created_at", filter=Q(
                    backups__verification=Verification.VERIFIED,
                    backups__deleted_at__isnull=True)))):
        window = WEEKLY_FRESH if row["frequency"] == Frequency.WEEKLY else FRESH
        if row["last"] is None or row["last"] < now - window:
            row["window_hours"] = int(window.total_seconds() // 3600)
            overdue.setdefault(row["environment_id"], []).append(row)
    latest = newest(Backup.objects.filter(deleted_at__isnull=True,
                                          verification=Verification.VERIFIED))
    drills = newest(Drill.objects.filter(passed=True))
    flagged: dict[int, Backup] = {}  # a handful at most: flagged in the last 26 hours
    for backup in (Backup.objects.filter(source__environment_id__in=ids, deleted_at__isnull=True,
                                         created_at__gte=now - FRESH).exclude(flagged="")
                   .annotate(env_id=F("source__environment_id")).only("id", "flagged")):
        flagged.setdefault(backup.env_id, backup)
    rows = []
    for env in envs:
        count, last, drill = sources.get(env.pk, 0), latest.get(env.pk), drills.get(env.pk)
        late = overdue.get(env.pk, [])
        rows.append({
            "env": env, "sources": count, "last_verified": last,
            "stale": bool(late), "overdue": late,
            "daily_overdue": any(r["frequency"] != Frequency.WEEKLY for r in late),
            "drill": drill, "drill_days": (now - drill).days if drill else None,
            "flagged": flagged.get(env.pk),
        })
    return rows


def _age(seconds: float) -> str:
    hours = int(seconds // 3600)
    return f"{hours} h" if hours < 72 else f"{hours // 24} days"


@attention
def overdue_attention(request, env) -> list[dict]:
    """The Overview's word on backups: each scheduled source without a verified backup
    within its expected interval (the rule of the ``backup.overdue`` notification)."""
    now = timezone.now()
    late = overdue_sources(now, BackupSource.objects.filter(environment=env).only(
        "name", "frequency", "created_at").order_by("name"))
    items = []
    for row in late:
        name, frequency = row.source.name, row.source.frequency
        age = _age((now - row.since).total_seconds())
        if row.last:
            text = f"{name}: no verified backup for {age} (expected {frequency})"
            title = f"last verified backup {timezone.localtime(row.last):%Y-%m-%d %H:%M %Z}"
        else:
            text = f"{name}: no verified backup yet, added {age} ago (expected {frequency})"
            title = f"added {timezone.localtime(row.since):%Y-%m-%d %H:%M %Z}"
        items.append({"text": text, "title": title, "url": f"/envs/{env.name}/backups/",
                      "level": "warning", "action": "Open backups"})
    return items


@dashboard_section(60, "backups/_dashboard.html")
def dashboard(request, envs):
    if not envs:
        return None
    rows = env_statuses(envs)
    return {"rows": rows, "warnings": sum(1 for r in rows if r["stale"])}


@env_section(60, "backups/_env_section.html")
def env_page(request, env):
    sources = list(BackupSource.objects.filter(environment=env))
    # Rows point at the sources loaded above instead of joining them again: a source row
    # decrypts its URLs and keys each time it is loaded.
    by_id = {source.pk: source for source in sources}
    backups, more_backups = head(request, Backup.objects.filter(
        source__environment=env, deleted_at__isnull=True), "backups", 10)
    drills, more_drills = head(request, Drill.objects.filter(source__environment=env),
                               "drills", 5)
    for row in backups + drills:
        row.source = by_id[row.source_id]
    for b in backups:  # biggest tables first, for the page
        b.top_tables = sorted(b.row_counts.items(), key=lambda kv: -kv[1])[:5]
    return {
        "status": env_status(env), "sources": sources, "backups": backups,
        "drills": drills, "more_backups": more_backups, "more_drills": more_drills,
        "bucket": bucket.describe(), "prod": env.is_prod,
        # Without a bucket no backup, retention, restore or drill can work: the buttons say
        # so before they are tried (the services refuse the same way).
        "bucket_ready": bucket.configured(), "bucket_setting": bucket.SETTING,
        "bucket_endpoint_setting": bucket.ENDPOINT_SETTING,
    }
