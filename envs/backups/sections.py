"""The backups parts of the dashboard and of the environment page."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import F, Max
from django.utils import timezone

from envs.sections import attention, dashboard_section, env_section, head

from . import bucket
from .models import Backup, BackupSource, Drill, Frequency
from .overdue import (
    FRESH,
    MANUAL,
    NEW,
    OVERDUE,
    Freshness,
    age_text,
    freshness,
    max_age_hours,
    overdue_sources,
)

# What the freshness rule needs of a source: its URLs and keys stay unloaded (a source row
# decrypts them each time it is loaded).
FRESHNESS_FIELDS = ("environment_id", "name", "kind", "frequency", "created_at")


def env_status(env, now=None, sources=None) -> dict:
    """Freshness of an environment's backups and its last successful drill (the same
    figures as :func:`env_statuses`, for one environment; ``sources``: the queryset of its
    sources to load, default only what the rule needs)."""
    return env_statuses([env], now, sources)[0]


def env_statuses(envs, now=None, sources=None) -> list[dict]:
    """Each source's freshness (the one rule of envs/backups/overdue.py), the newest
    verified backup, last successful drill and newest flagged backup of several
    environments in three queries, whatever the number of environments or rows."""
    now = now or timezone.now()
    ids = [env.pk for env in envs]
    if sources is None:
        sources = BackupSource.objects.filter(environment_id__in=ids).only(*FRESHNESS_FIELDS)
    by_env: dict[int, list[Freshness]] = {}
    for row in freshness(now, sources.order_by("name")):
        by_env.setdefault(row.source.environment_id, []).append(row)
    drills = dict(Drill.objects.filter(source__environment_id__in=ids, passed=True).order_by()
                  .values("source__environment_id").annotate(last=Max("created_at"))
                  .values_list("source__environment_id", "last"))
    flagged: dict[int, Backup] = {}  # a handful at most: flagged within the freshness window
    window = timedelta(hours=max_age_hours(Frequency.DAILY))
    for backup in (Backup.objects.filter(source__environment_id__in=ids, deleted_at__isnull=True,
                                         created_at__gte=now - window).exclude(flagged="")
                   .annotate(env_id=F("source__environment_id")).only("id", "flagged")):
        flagged.setdefault(backup.env_id, backup)
    rows = []
    for env in envs:
        fresh = by_env.get(env.pk, [])
        verified = [r.last for r in fresh if r.last]
        last = max(verified) if verified else None
        late = [r for r in fresh if r.overdue]
        drill = drills.get(env.pk)
        states = {r.state for r in fresh}
        rows.append({
            # the environment's word: its worst source (a manual-only one is never late)
            "state": next((s for s in (OVERDUE, FRESH, NEW, MANUAL) if s in states), None),
            "env": env, "sources": len(fresh), "freshness": fresh,
            "last_verified": last,
            "last_verified_age": age_text((now - last).total_seconds()) if last else None,
            "stale": bool(late), "overdue": late,
            "new": [r for r in fresh if r.state == NEW],
            "drill": drill, "drill_days": (now - drill).days if drill else None,
            "flagged": flagged.get(env.pk),
        })
    return rows


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
        age = row.age
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
    # One query loads the sources for the table and their freshness (the shared rule).
    status = env_status(env, sources=BackupSource.objects.filter(environment=env))
    sources = [row.source for row in status["freshness"]]
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
        "status": status, "sources": sources, "backups": backups,
        "drills": drills, "more_backups": more_backups, "more_drills": more_drills,
        "bucket": bucket.describe(), "prod": env.is_prod,
        # Without a bucket no backup, retention, restore or drill can work: the buttons say
        # so before they are tried (the services refuse the same way).
        "bucket_ready": bucket.configured(), "bucket_setting": bucket.SETTING,
        "bucket_endpoint_setting": bucket.ENDPOINT_SETTING,
    }
