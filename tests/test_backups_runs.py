"""Backup, restore and drill runs end to end: real PostgreSQL + moto S3 behind the fault proxy.

Each test builds uniquely named databases and roles and drops them afterwards. Runs execute
synchronously through the job frame (execute_run), exactly as the worker does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from envs.backups import services
from envs.backups.models import Backup, BackupSource, Drill
from envs.models import Environment
from portal.audit.models import AuditEvent
from portal.lib import pg
from portal.lib.backup_stream import ENC_MAGIC
from portal.lib.s3 import sidecar_key
from portal.runs.engine import execute_run
from portal.runs.models import Run, RunLine
from tests.conftest import run_in_thread

ADMIN = os.environ.get("PORTAL_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "pw-" + uuid.uuid4().hex[:10] + "'q"

SCHEMA_SQL = """
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, profile jsonb);
INSERT INTO customers (name, profile)
SELECT 'cust ' || g || ' ' || md5(random()::text),
       jsonb_build_object('n', g, 'tags', jsonb_build_array(md5(g::text), g % 7))
FROM generate_series(1, 3000) g;
CREATE TABLE orders (id bigserial PRIMARY KEY, customer int REFERENCES customers(id),
                     amount numeric(12, 2), note text, raw bytea);
INSERT INTO orders (customer, amount, note, raw)
SELECT 1 + g % 3000, (random() * 1000)::numeric(12, 2), repeat(md5(g::text), 3) || E'\\n\\t',
       decode(md5(random()::text), 'hex')
FROM generate_series(1, 8000) g;
CREATE SCHEMA "Sales Q1";
CREATE TABLE "Sales Q1"."odd name" (k text, v numeric);
INSERT INTO "Sales Q1"."odd name" SELECT 'k' || g, g / 3.0 FROM generate_series(1, 400) g;
CREATE TABLE empty_t (x int);
"""


def _sql(conn: str, text: str, *params) -> list:
    with psycopg.connect(conn, autocommit=True) as c:
        cur = c.execute(text, params or None)
        return cur.fetchall() if cur.description else []


class SourceDb:
    """A database owned by an app role, readable by a password-protected reader role."""

    def __init__(self, extra_sql: str = ""):
        sfx = uuid.uuid4().hex[:8]
        self.name, self.owner, self.reader = f"bkr_{sfx}", f"bkr_app_{sfx}", f"bkr_ro_{sfx}"
        for role in (self.owner, self.reader):
            _sql(ADMIN, sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(SECRET)).as_string())
        _sql(ADMIN, f'GRANT pg_read_all_data TO "{self.reader}"')
        pg.create_database(ADMIN, self.name, owner=self.owner)
        self.admin_db = pg.PgConn.parse(ADMIN).with_db(self.name)
        pg.run_psql(self.admin_db, f'SET ROLE "{self.owner}";\n' + SCHEMA_SQL + extra_sql)
        self.url = (f"postgresql://{self.reader}:{quote(SECRET, safe='')}@127.0.0.1:5432/"
                    f"{self.name}")

    def checksums(self) -> dict:
        return pg.table_checksums(self.admin_db)

    def counts(self) -> dict:
        return pg.table_row_counts(self.admin_db)

    def related_databases(self) -> list[str]:
        rows = _sql(ADMIN, "SELECT datname FROM pg_database WHERE datname LIKE %s",
                    self.name + "%")
        return sorted(r[0] for r in rows)

    def drop(self) -> None:
        for name in self.related_databases():
            pg.drop_database(ADMIN, name)
        for role in (self.owner, self.reader):
            _sql(ADMIN, f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture
def srcdb():
    db = SourceDb()
    yield db
    db.drop()


@pytest.fixture
def env(transactional_db):
    return Environment.objects.create(name="stage", tier="dev")


@pytest.fixture
def source(env, srcdb):
    return BackupSource.objects.create(environment=env, name="main-db", database_url=srcdb.url,
                                       admin_url=ADMIN)


def run_backup(source) -> Run:
    run = services.start_backup(source)
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def run_restore(backup, data=None) -> Run:
    run = services.start_restore(backup, data or {})
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def run_text(run: Run) -> str:
    lines = "\n".join(RunLine.objects.filter(run=run).values_list("text", flat=True))
    return "\n".join([lines, run.error, json.dumps(run.result)])


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text and quote(SECRET, safe="") not in text
        assert "postgresql://" not in text


def audit_text() -> str:
    return json.dumps(list(AuditEvent.objects.values("detail", "target")), default=str)


def keys(store, prefix="backups/") -> list[str]:
    return sorted(o.key for o in store.list(prefix))


# --- the round trip -----------------------------------------------------------------------
def test_backup_then_restore_swaps_in_identical_data_and_keeps_the_old(s3, source, srcdb):
    before, counts = srcdb.checksums(), srcdb.counts()
    run = run_backup(source)
    assert run.status == "succeeded", run_text(run)
    b = Backup.objects.get()
    assert b.verification == "verified" and b.flagged == ""
    assert b.row_counts == counts and b.row_counts["public.orders"] == 8000
    assert b.row_counts['Sales Q1.odd name'] == 400 and b.row_counts["public.empty_t"] == 0
    assert keys(s3) == sorted([b.key, sidecar_key(b.key)])
    assert s3.read_sidecar(b.key)["sha256"] == b.sha256
    assert b.server_version.startswith("15.") and b.tool_version.startswith("15.")
    assert 0 < b.size < b.raw_size

    # Damage the live database after the backup.
    pg.run_psql(srcdb.admin_db, "DELETE FROM orders WHERE id > 100; DROP TABLE empty_t;"
                                "INSERT INTO customers (name) VALUES ('late');")
    damaged = srcdb.checksums()
    restore = run_restore(b)
    assert restore.status == "succeeded", run_text(restore)
    assert srcdb.checksums() == before and srcdb.counts() == counts
    kept = restore.result["kept_as"]
    assert kept.startswith(srcdb.name + "_pre_restore_")
    assert srcdb.related_databases() == sorted([srcdb.name, kept])
    assert pg.table_checksums(pg.PgConn.parse(ADMIN).with_db(kept)) == damaged
    # Restored objects belong to the live database's owner, so the app keeps working.
    owners = _sql(srcdb.admin_db.conninfo(),
                  "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
    assert owners == [(srcdb.owner,)]
    for r in (run, restore):
        assert_no_secrets(run_text(r))
    assert_no_secrets(audit_text())
    assert AuditEvent.objects.filter(action="backup.restored").count() == 1


def test_encrypted_source_stores_ciphertext_and_restores(s3, source, srcdb):
    source.encrypt = True
    source.save()
    assert source.encryption_key
    run = run_backup(source)
    assert run.status == "succeeded", run_text(run)
    b = Backup.objects.get()
    assert b.encrypted and s3.get_bytes(b.key)[:8] == ENC_MAGIC
    pg.run_psql(srcdb.admin_db, "TRUNCATE orders")
    restore = run_restore(b)
    assert restore.status == "succeeded", run_text(restore)
    assert srcdb.counts()["public.orders"] == 8000
    assert_no_secrets(run_text(run), run_text(restore))
    assert source.encryption_key not in run_text(run)


# --- fault drills -------------------------------------------------------------------------
@pytest.fixture
def bigsrc():
    # ~45 MB of random bytes: with slow uploads pg_dump is still streaming when it is killed.
    db = SourceDb("CREATE TABLE blobs (id int, b bytea);\n")
    pg.run_psql(db.admin_db, "CREATE EXTENSION IF NOT EXISTS pgcrypto;"
                             "INSERT INTO blobs SELECT g, gen_random_bytes(1024) "
                             "FROM generate_series(1, 22000) g;")
    yield db
    db.drop()


def _pg_dump_children() -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:]
            if comm == "pg_dump" and int(rest.split()[1]) == os.getpid() and rest[0] != "Z":
                out.append(int(d.name))
    return out


def _wait(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _earlier_backup(source) -> Backup:
    run = run_backup(source)
    assert run.status == "succeeded", run_text(run)
    return Backup.objects.get()


def _assert_untouched(s3, earlier: Backup, srcdb, checksums):
    assert Backup.objects.count() == 1
    assert keys(s3) == sorted([earlier.key, sidecar_key(earlier.key)])
    assert s3.list_uploads() == []
    assert s3.read_sidecar(earlier.key)["sha256"] == earlier.sha256
    assert srcdb.checksums() == checksums
    assert _pg_dump_children() == []


@pytest.mark.parametrize("how", ["pg_terminate_backend", "SIGKILL"])
def test_pg_dump_killed_mid_stream(s3, s3srv, env, bigsrc, how):
    source = BackupSource.objects.create(environment=env, name="big", database_url=bigsrc.url,
                                         admin_url=ADMIN)
    earlier = _earlier_backup(source)
    checksums = bigsrc.checksums()
    s3srv.delay_upload_part(0.4)
    run = services.start_backup(source)
    worker = run_in_thread(run.pk)
    try:
        # Mid-stream: the multipart upload exists and pg_dump is busy copying.
        _wait(lambda: any(u.key != earlier.key for u in s3.list_uploads()), what="upload")
        _wait(lambda: _sql(ADMIN, "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND "
                                  "application_name = 'pg_dump' AND query LIKE 'COPY%%'",
                           bigsrc.name), what="pg_dump COPY")
        if how == "SIGKILL":
            for pid in _pg_dump_children():
                os.kill(pid, signal.SIGKILL)
        else:
            _sql(ADMIN, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                        "datname = %s AND application_name = 'pg_dump'", bigsrc.name)
    finally:
        worker.join(120)
        s3srv.clear_faults()
    run.refresh_from_db()
    assert run.status == "failed", run_text(run)
    assert "pg_dump" in run.error and "no object was left" in run.error
    _assert_untouched(s3, earlier, bigsrc, checksums)


@pytest.mark.parametrize("status,code", [(500, "InternalError"), (507, "InsufficientStorage")])
def test_upload_part_failure_leaves_nothing(s3, s3srv, source, srcdb, status, code):
    earlier = _earlier_backup(source)
    checksums = srcdb.checksums()
    s3srv.fail_upload_part(status=status, times=None)
    run = run_backup(source)
    s3srv.clear_faults()
    assert run.status == "failed"
    assert code in run.error and "aborted" in run.error
    _assert_untouched(s3, earlier, srcdb, checksums)
    assert_no_secrets(run_text(run))


def test_corrupted_object_stops_restore_before_the_live_database(s3, s3srv, source, srcdb):
    b = _earlier_backup(source)
    pg.run_psql(srcdb.admin_db, "DELETE FROM orders WHERE id > 10")
    live = srcdb.checksums()
    s3srv.corrupt_get(b.key)
    run = run_restore(b)
    s3srv.clear_faults()
    assert run.status == "failed"
    assert "checksum mismatch" in run.error and "was not touched" in run.error
    assert srcdb.checksums() == live
    assert srcdb.related_databases() == [srcdb.name]  # no scratch, nothing renamed
    assert Backup.objects.get().verification == "verified"  # the object itself is fine


def test_unreachable_database_fails_clearly(s3, env):
    source = BackupSource.objects.create(
        environment=env, name="gone", database_url=f"postgresql://app:{SECRET}@127.0.0.1:1/x")
    run = run_backup(source)
    assert run.status == "failed"
    assert "cannot connect" in run.error and "127.0.0.1:1/x" in run.error
    assert_no_secrets(run_text(run), audit_text())
    assert keys(s3) == [] and s3.list_uploads() == []


def test_flags_implausibly_small_backup(s3, source, srcdb):
    _earlier_backup(source)
    pg.run_psql(srcdb.admin_db, "DELETE FROM orders; DELETE FROM \"Sales Q1\".\"odd name\";")
    run = run_backup(source)
    assert run.status == "succeeded", run_text(run)
    newest = Backup.objects.order_by("-created_at").first()
    assert newest.flagged.startswith("implausibly small")
    assert "WARNING" in run_text(run)


# --- drills -------------------------------------------------------------------------------
def test_restore_drill_passes_records_figures_and_drops_scratch(s3, source, srcdb, settings):
    settings.DRILL_DATABASE_URL = ADMIN
    b = _earlier_backup(source)
    run = services.start_drill(source.environment)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run_text(run)
    d = Drill.objects.get()
    assert d.passed and d.backup == b and d.run == run
    f = d.figures
    assert f["tables_restored"] == f["tables_expected"] == 4
    assert f["rows_restored"] == f["rows_expected"] == 11400 and f["restore_seconds"] > 0
    assert f["target"] == "drill server"
    assert _sql(ADMIN, "SELECT datname FROM pg_database WHERE datname LIKE 'drill_%%'") == []
    assert_no_secrets(run_text(run))


def test_drill_fails_when_the_backup_is_corrupt(s3, s3srv, source, srcdb):
    b = _earlier_backup(source)
    s3srv.corrupt_get(b.key)
    run = services.start_drill(source.environment)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and "main-db" in run.error
    d = Drill.objects.get()
    assert not d.passed and "sha256 mismatch" in d.detail
    assert srcdb.related_databases() == [srcdb.name]


# --- git mirrors --------------------------------------------------------------------------
def test_git_mirror_backup(s3, env, tmp_path):
    repo = tmp_path / "repo"
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "README").write_text("hello\n")
    subprocess.run([*git, "-C", str(repo), "add", "."], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "first"], check=True)
    subprocess.run([*git, "-C", str(repo), "tag", "v1"], check=True)
    source = BackupSource.objects.create(environment=env, name="code", kind="git",
                                         repo_url=str(repo), repo_token="tok-" + SECRET)
    run = run_backup(source)
    assert run.status == "succeeded", run_text(run)
    b = Backup.objects.get()
    assert b.key.endswith(".bundle") and b.verification == "verified"
    assert b.row_counts["refs"] >= 2
    bundle = tmp_path / "x.bundle"
    bundle.write_bytes(s3.get_bytes(b.key))
    subprocess.run(["git", "clone", "-q", str(bundle), str(tmp_path / "back")], check=True)
    assert (tmp_path / "back" / "README").read_text() == "hello\n"
    assert_no_secrets(run_text(run))
