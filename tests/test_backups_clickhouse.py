"""ClickHouse backups: BACKUP ... TO S3 and RESTORE over the HTTP interface, executed by a
real ClickHouse engine (chDB 26.x behind tests/fakes/clickhouse_http.py) writing into the
test S3 server; verification by listing and a scratch restore with row counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from envs.backups import clickhouse as ch_backups
from envs.backups import jobs, services
from envs.backups.models import Backup, BackupSource
from envs.backups.sections import env_status
from envs.backups.serializers import SourceSerializer
from envs.models import Environment
from portal.lib.clickhouse import ClickHouse, ClickHouseConn, ClickHouseError, S3Target, literal
from portal.runs.engine import execute_run
from portal.runs.models import Run
from tests.fakes.clickhouse_http import ClickHouseTestServer

from .test_backups_runs import audit_text, run_text

PASSWORD = "ch-pw-'quoted'-0123456789"


@pytest.fixture(scope="module")
def chsrv():
    with ClickHouseTestServer(user="backup", password=PASSWORD) as srv:
        yield srv


@pytest.fixture
def ch(chsrv):
    for db in chsrv.sql("SELECT name FROM system.databases WHERE name LIKE 'sig%'").split():
        chsrv.sql(f"DROP DATABASE IF EXISTS `{db}` SYNC")
    chsrv.sql("CREATE DATABASE signoz_traces ENGINE = Atomic")
    chsrv.sql("CREATE DATABASE signoz_logs ENGINE = Atomic")
    chsrv.sql("CREATE TABLE signoz_traces.spans (ts DateTime, trace String, d UInt64) "
              "ENGINE = MergeTree ORDER BY ts")
    chsrv.sql("INSERT INTO signoz_traces.spans SELECT now() - number, hex(number), number "
              "FROM numbers(5000)")
    chsrv.sql("CREATE TABLE signoz_traces.`odd name` (k String) ENGINE = MergeTree ORDER BY k")
    chsrv.sql("INSERT INTO signoz_traces.`odd name` VALUES ('a'), ('b')")
    chsrv.sql("CREATE TABLE signoz_logs.logs (body String) ENGINE = MergeTree ORDER BY body")
    chsrv.sql("INSERT INTO signoz_logs.logs SELECT toString(number) FROM numbers(1234)")
    chsrv.sql("CREATE VIEW signoz_logs.v AS SELECT count() FROM signoz_logs.logs")
    chsrv.queries.clear()
    return chsrv


@pytest.fixture
def env(transactional_db):
    return Environment.objects.create(name="stage", tier="dev")


def _source(env, ch, **extra) -> BackupSource:
    data = SourceSerializer(data={"name": "signoz", "kind": "clickhouse",
                                  "database_url": ch.url,
                                  "databases": ["signoz_traces", "signoz_logs"], **extra})
    data.is_valid(raise_exception=True)
    return services.register_source(env, data.validated_data)


def _run(run: Run) -> Run:
    execute_run(run.pk)
    run.refresh_from_db()
    return run


# --- the wrapper ---------------------------------------------------------------------------
def test_wrapper_counts_backs_up_and_restores_into_new_databases(s3, ch):  # noqa: F811
    client = ClickHouse(ClickHouseConn.parse(ch.url))
    assert client.version().startswith(("2", "3"))
    counts = {"signoz_logs.logs": 1234, "signoz_traces.odd name": 2,
              "signoz_traces.spans": 5000}
    assert client.row_counts(["signoz_traces", "signoz_logs"]) == counts  # no views
    target = S3Target.in_bucket(bucket=s3.bucket, key="lib/ch1", endpoint_url=s3.client.meta
                                .endpoint_url, region="us-east-1", access_key="test",
                                secret_key="test-secret")
    st = client.wait(client.start_backup(["signoz_traces", "signoz_logs"], target),
                     timeout=120, interval=0.2)
    assert st.ok and st.status == "BACKUP_CREATED" and st.num_files > 0
    assert any(o.key == "lib/ch1/.backup" for o in s3.list("lib/ch1/"))
    st = client.wait(client.start_restore({"signoz_traces": "t2", "signoz_logs": "l2"},
                                          target), timeout=120, interval=0.2)
    assert st.ok and st.status == "RESTORED"
    assert client.row_counts(["t2", "l2"]) == {
        "l2.logs": 1234, "t2.odd name": 2, "t2.spans": 5000}
    for name in ("t2", "l2"):
        client.drop_database(name)
    # The statement ClickHouse received: S3(url, key, secret) as quoted literals, ASYNC.
    backup_sql = next(q.strip() for q in ch.queries if q.startswith("BACKUP"))
    assert backup_sql.startswith("BACKUP DATABASE `signoz_traces`, DATABASE `signoz_logs` "
                                 "TO S3('http://") and backup_sql.endswith("ASYNC")
    client.close()


def test_wrapper_errors_and_quoting(ch):
    bad = ClickHouse(ClickHouseConn.parse(ch.url.replace(PASSWORD.replace("'", "%27"), "x")))
    with pytest.raises(ClickHouseError):
        bad.version()
    with pytest.raises(ClickHouseError):
        ClickHouseConn.parse("ftp://h/x")
    conn = ClickHouseConn.parse("https://u:p%40ss@ch.internal")
    assert (conn.port, conn.password, conn.secure) == (8443, "p@ss", True)
    assert literal("a'b\\c") == "'a\\'b\\\\c'"
    client = ClickHouse(ClickHouseConn.parse(ch.url))
    assert client.row_counts(["no_such_db"]) == {}
    with pytest.raises(ClickHouseError) as err:
        client.rows("SELECT * FROM nowhere.nothing")
    assert "nowhere" in str(err.value)


# --- runs ------------------------------------------------------------------------------------
def test_backup_run_verifies_by_listing_and_restoring_row_counts(s3, ch, env):  # noqa: F811
    source = _source(env, ch)
    assert source.schedule_text() == "weekly Sun 03:30 UTC"  # weekly by default
    run = _run(services.start_backup(source))
    text = run_text(run)
    assert run.status == "succeeded", text
    backup = Backup.objects.get(source=source)
    assert backup.is_verified, backup.verify_detail
    assert backup.key.startswith(source.prefix) and backup.key.endswith(".clickhouse")
    assert backup.row_counts == {"signoz_logs.logs": 1234, "signoz_traces.odd name": 2,
                                 "signoz_traces.spans": 5000}
    assert ".backup present" in backup.verify_detail and "6236 rows" in backup.verify_detail
    assert any(o.key == f"{backup.key}/.backup" for o in s3.list(backup.key + "/"))
    assert "RESTORE" in text and "_verify_run" in text
    # The scratch databases of the verification are gone; the live ones untouched.
    assert "verify" not in ch.sql("SELECT name FROM system.databases")
    assert ch.sql("SELECT count() FROM signoz_logs.logs").strip() == "1234"
    for secret in (PASSWORD, "test-secret"):
        assert secret not in text and secret not in audit_text()
    assert run.result["verification"] == "verified" and run.result["tables"] == 3


def test_restore_goes_into_new_databases_never_over_the_live_ones(s3, ch, env):  # noqa: F811
    source = _source(env, ch)
    _run(services.start_backup(source))
    backup = Backup.objects.get()
    ch.sql("INSERT INTO signoz_logs.logs VALUES ('after the backup')")
    run = _run(services.start_restore(backup, {}))
    assert run.status == "succeeded", run_text(run)
    names = run.result["databases"]
    assert names == {"signoz_logs": f"signoz_logs_restored_run{run.pk}",
                     "signoz_traces": f"signoz_traces_restored_run{run.pk}"}
    assert ch.sql(f"SELECT count() FROM {names['signoz_logs']}.logs").strip() == "1234"
    assert ch.sql("SELECT count() FROM signoz_logs.logs").strip() == "1235"  # live untouched
    assert '"path": "new_databases"' in audit_text()


def test_a_missing_database_or_a_failed_backup_fails_the_run(s3, ch, env, monkeypatch):  # noqa: F811
    source = _source(env, ch, databases=["signoz_traces", "signoz_nope"])
    run = _run(services.start_backup(source))
    assert run.status == "failed" and "has no database signoz_nope" in run.error
    ok = _source(env, ch, name="other")
    # ClickHouse itself fails the BACKUP: its target bucket does not exist.
    real = ch_backups.target
    monkeypatch.setattr(ch_backups, "target", lambda key: S3Target(
        real(key).url.replace("/portal-backups/", "/no-such-bucket-here/"), "test",
        "test-secret"))
    run = _run(services.start_backup(ok))
    assert run.status == "failed" and "BACKUP ended BACKUP_FAILED" in run.error, run.error
    assert not Backup.objects.filter(source=ok).exists()
    assert PASSWORD not in run_text(run)


def test_retention_deletes_whole_backup_folders(s3, ch, env):  # noqa: F811
    source = _source(env, ch, keep_daily=1)
    for _ in range(2):
        assert _run(services.start_backup(source)).status == "succeeded"
    older, newer = Backup.objects.filter(source=source).order_by("created_at")
    older.refresh_from_db()
    assert older.deleted_at is not None and newer.deleted_at is None
    assert list(s3.list(older.key + "/")) == []
    assert any(o.key.endswith("/.backup") for o in s3.list(newer.key + "/"))


def test_api_validation_and_the_schedule_tick(api, env, ch):
    r = api.post("/api/envs/stage/backup-sources/", {
        "name": "ch", "kind": "clickhouse", "database_url": "nope://x",
        "databases": ["system"]}, format="json")
    assert r.status_code == 400 and {"database_url", "databases"} <= set(r.json()["fields"])
    r = api.post("/api/envs/stage/backup-sources/", {
        "name": "ch", "kind": "clickhouse", "database_url": ch.url,
        "databases": ["signoz_logs"]}, format="json")
    assert r.status_code == 201, r.content
    assert PASSWORD not in r.content.decode() and r.json()["frequency"] == "weekly"
    assert "ClickHouse signoz_logs on 127.0.0.1" in r.json()["description"]
    source = BackupSource.objects.get(name="ch")
    assert source.is_due(source.created_at) is False
    assert jobs.tick() == []  # weekly: not due right after registration


def test_a_weekly_source_is_fresh_for_a_week_and_then_warns(env, ch, signed_in, settings):
    source = _source(env, ch)
    backup = Backup.objects.create(source=source, key=f"{source.prefix}x.clickhouse",
                                   verification="verified",
                                   created_at=timezone.now() - timedelta(days=3))
    status = env_status(env)
    assert not status["stale"] and status["overdue"] == []
    assert [f.state for f in status["freshness"]] == ["fresh"]
    Backup.objects.filter(pk=backup.pk).update(created_at=timezone.now() - timedelta(days=8))
    status = env_status(env)
    assert status["stale"] and [o.source.name for o in status["overdue"]] == ["signoz"]
    hours = settings.BACKUP_MAX_AGE_HOURS + 144  # weekly: six days more than a daily source
    assert status["overdue"][0].max_age_hours == hours
    page = signed_in.get("/").content.decode()
    assert "signoz (clickhouse)" in page and "no verified backup for 8 days" in page
    assert f"(expected within {hours} h)" in page
