"""Retention on the bucket: exactly the policy's objects go, never the newest verified one,
unknown objects are listed and left alone. Plus the schedule tick and the upload janitor."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from envs.backups import jobs, services
from envs.backups.models import Backup, BackupSource
from envs.backups.retention import Policy, plan
from envs.models import Environment
from portal.audit.models import AuditEvent
from portal.lib.s3 import sidecar_key
from portal.runs.engine import execute_run
from portal.runs.models import Run, RunLine

from .test_backups_runs import keys

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def _b(pk: int, days_ago: float, verification: str = "verified") -> Backup:
    return Backup(pk=pk, key=f"k{pk}", sha256="0" * 64, verification=verification,
                  created_at=NOW - timedelta(days=days_ago))


def test_plan_keep_days_deletes_only_older_ones():
    items = [_b(1, 0.1), _b(2, 10), _b(3, 29.9), _b(4, 30.1), _b(5, 90, "failed")]
    assert [b.pk for b in plan(items, Policy(keep_days=30), NOW)] == [4, 5]


def test_plan_never_deletes_the_newest_verified_backup():
    items = [_b(1, 40, "failed"), _b(2, 50), _b(3, 60)]
    assert [b.pk for b in plan(items, Policy(keep_days=30), NOW)] == [1, 3]
    assert [b.pk for b in plan(items, Policy(daily=0, weekly=0, monthly=0), NOW)] == [1, 3]


def test_plan_counts_keep_newest_verified_per_day_week_month():
    items = [
        _b(1, 0.1), _b(2, 0.2),              # today (2026-06-15, Monday): keep 1
        _b(3, 1.1, "failed"), _b(4, 1.2),    # yesterday: failed fills no slot; keep 4
        _b(5, 2.1),                          # 2 days ago: daily count exhausted; week of 8 Jun
        _b(6, 9),                            # week of 1 Jun (Saturday 6 Jun)
        _b(7, 20), _b(8, 45), _b(9, 80),     # May 26 (week 22), May 1, Mar 27
        _b(10, 0.05, "pending"),             # verification in progress: kept
    ]
    doomed = plan(items, Policy(daily=2, weekly=3, monthly=3), NOW)
    # daily: 1, 4; weekly: 1 (w25), 4 (w24 Sunday), 6 (w23); monthly: 1 (Jun), 7 (May), 9 (Mar)
    # -> month April has none; 8 (May 1) loses to 7 (May 26) in May.
    assert sorted(b.pk for b in doomed) == [2, 3, 5, 8]


@pytest.fixture
def env(transactional_db):
    return Environment.objects.create(name="qa", tier="test")


def _put_backup(store, source, days_ago: float, verification="verified") -> Backup:
    created = timezone.now() - timedelta(days=days_ago)
    key = f"{source.prefix}{created:%Y%m%dT%H%M%SZ}-x.dump.zst"
    store.put_bytes(key, b"data" * 10)
    store.put_bytes(sidecar_key(key), b"{}")
    return Backup.objects.create(source=source, key=key, sha256="0" * 64, size=40,
                                 verification=verification, created_at=created)


def test_retention_run_deletes_exactly_the_policy_objects(s3, env):  # noqa: F811
    source = BackupSource.objects.create(environment=env, name="db", database_url="dbname=x",
                                         keep_days=7)
    other = BackupSource.objects.create(environment=env, name="other", database_url="dbname=y",
                                        keep_days=1)
    fresh = [_put_backup(s3, source, d) for d in (0.5, 3, 6.5)]
    old = [_put_backup(s3, source, d) for d in (8, 20)] + [_put_backup(s3, source, 9, "failed")]
    foreign = _put_backup(s3, other, 30)  # another source's policy is not this run's business
    s3.put_bytes(source.prefix + "manual-copy.sql", b"by hand")
    s3.put_bytes(source.prefix + "notes/readme.txt", b"?")

    run = services.start_retention(source)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    expected_left = sorted([*(k for b in fresh for k in (b.key, sidecar_key(b.key))),
                            source.prefix + "manual-copy.sql", source.prefix + "notes/readme.txt"])
    assert keys(s3, source.prefix) == expected_left
    assert keys(s3, other.prefix) == sorted([foreign.key, sidecar_key(foreign.key)])
    assert sorted(run.result["deleted"]) == sorted(b.key for b in old)
    assert run.result["unknown"] == [source.prefix + "manual-copy.sql",
                                     source.prefix + "notes/readme.txt"]
    for b in old:
        b.refresh_from_db()
        assert b.deleted_at is not None and "keep 7 days" in b.deleted_reason
    log = "\n".join(RunLine.objects.filter(run=run).values_list("text", flat=True))
    assert "manual-copy.sql" in log and "NOT deleted" in log


def test_retention_keeps_the_newest_verified_even_when_all_are_old(s3, env):  # noqa: F811
    source = BackupSource.objects.create(environment=env, name="db", database_url="dbname=x",
                                         keep_days=3)
    newest = _put_backup(s3, source, 10)
    older = _put_backup(s3, source, 12)
    newer_failed = _put_backup(s3, source, 5, "failed")
    run = services.start_retention(source)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert keys(s3, source.prefix) == sorted([newest.key, sidecar_key(newest.key)])
    assert sorted(run.result["deleted"]) == sorted([older.key, newer_failed.key])


# --- schedules ----------------------------------------------------------------------------
def test_tick_starts_due_backups_once(s3, env):  # noqa: F811
    created = timezone.now() - timedelta(days=3)
    due = BackupSource.objects.create(environment=env, name="due", database_url="dbname=x",
                                      created_at=created)
    BackupSource.objects.create(environment=env, name="manual", database_url="dbname=y",
                                frequency="off", created_at=created)
    weekly = BackupSource.objects.create(environment=env, name="later", database_url="dbname=z",
                                         frequency="weekly", created_at=timezone.now(),
                                         at=time(2, 0))
    started = jobs.tick()
    runs = Run.objects.filter(pk__in=started)
    assert [(r.kind, r.params["source"], r.scheduled) for r in runs] == [("backup", due.pk, True)]
    assert jobs.tick() == []  # the slot is taken
    assert not weekly.is_due(timezone.now())


def test_tick_skips_a_source_whose_lock_is_held_and_retries(s3, env):  # noqa: F811
    source = BackupSource.objects.create(environment=env, name="busy", database_url="dbname=x",
                                         created_at=timezone.now() - timedelta(days=2))
    holder = services.start_backup(source)
    assert jobs.tick() == []
    assert AuditEvent.objects.filter(action="schedule.skipped").exists()
    Run.objects.filter(pk=holder.pk).update(status="failed")
    from portal.runs.models import Lock

    Lock.release_for(holder)
    assert len(jobs.tick()) == 1


def test_janitor_aborts_stale_portal_uploads_only(s3, settings, db):  # noqa: F811
    mine = s3.client.create_multipart_upload(Bucket=s3.bucket, Key="backups/qa/db/x.dump.zst")
    s3.client.create_multipart_upload(Bucket=s3.bucket, Key="elsewhere/y")
    settings.BACKUP_TIMEOUT = 0
    assert jobs.abort_stale_uploads() == 1
    left = s3.list_uploads()
    assert [u.key for u in left] == ["elsewhere/y"] and mine["UploadId"]
    assert AuditEvent.objects.filter(action="backup.upload_aborted").count() == 1
