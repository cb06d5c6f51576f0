"""Backups end to end: real PostgreSQL 15 + moto S3 over HTTP behind the fault proxy."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from portal.lib import backup_stream as bs  # noqa: E402
from portal.lib import pg  # noqa: E402
from portal.lib.s3 import S3Settings, S3Store, sidecar_key  # noqa: E402
from tests.fakes.s3server import S3TestServer  # noqa: E402

ADMIN = os.environ.get("PORTAL_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "s3cr3t p@ss'w\"rd-" + uuid.uuid4().hex[:6]

SCHEMA_SQL = """
CREATE TABLE items (id serial PRIMARY KEY, doc jsonb NOT NULL, note text, blob bytea,
                    price numeric(20, 6));
INSERT INTO items (doc, note, blob, price)
SELECT jsonb_build_object('n', g, 'tags', jsonb_build_array(md5(g::text), g % 7),
                          'nested', jsonb_build_object('ok', g % 2 = 0)),
       md5(random()::text) || repeat(md5(g::text), 8) || E'\\n\\t''quote''',
       decode(md5(random()::text) || md5(random()::text), 'hex'),
       (random() * 1e9)::numeric(20, 6)
FROM generate_series(1, 6000) g;
CREATE SCHEMA "Sales Q1";
CREATE TABLE "Sales Q1"."odd name" (k text, v numeric);
INSERT INTO "Sales Q1"."odd name" SELECT 'k' || g, g / 3.0 FROM generate_series(1, 500) g;
CREATE TABLE nopk (a int, b text);
INSERT INTO nopk SELECT g % 10, 'dup' FROM generate_series(1, 300) g;
CREATE TABLE empty_t (x int);
"""


@pytest.fixture(scope="module")
def s3srv():
    with S3TestServer() as srv:
        yield srv


@pytest.fixture()
def store(s3srv):
    s3srv.reset()
    st = S3Store(S3Settings(bucket="backups", endpoint_url=s3srv.endpoint_url,
                            access_key="test", secret_key="test", max_attempts=1))
    st.ensure_bucket()
    return st


@pytest.fixture(scope="module")
def srcdb():
    """A small source database and a password role that may read it."""
    suffix = uuid.uuid4().hex[:8]
    name, role = f"bk_src_{suffix}", f"bk_reader_{suffix}"
    pg.create_database(ADMIN, name)
    admin_db = pg.PgConn.parse(ADMIN).with_db(name)
    pg.run_psql(admin_db, SCHEMA_SQL)
    with psycopg.connect(ADMIN, autocommit=True) as c:
        c.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            psycopg.sql.Identifier(role), psycopg.sql.Literal(SECRET)))
        c.execute(psycopg.sql.SQL("GRANT pg_read_all_data TO {}").format(
            psycopg.sql.Identifier(role)))
    url = f"postgresql://{role}:{quote(SECRET, safe='')}@127.0.0.1:5432/{name}"
    yield {"name": name, "admin_db": admin_db, "url": url, "role": role}
    pg.drop_database(ADMIN, name)
    with psycopg.connect(ADMIN, autocommit=True) as c:
        c.execute(psycopg.sql.SQL("DROP ROLE IF EXISTS {}").format(psycopg.sql.Identifier(role)))


@pytest.fixture()
def scratch():
    name = f"bk_scratch_{uuid.uuid4().hex[:8]}"
    yield name
    pg.drop_database(ADMIN, name)


def _pg_children(name: str) -> list[int]:
    """Live (non-zombie) child processes of this process called ``name``."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:]
        state, ppid = rest.split()[0], int(rest.split()[1])
        if ppid == os.getpid() and comm == name and state != "Z":
            out.append(int(d.name))
    return out


def _assert_nothing_left(store: S3Store, key: str) -> None:
    assert store.head(key) is None
    assert store.head(sidecar_key(key)) is None
    assert store.list_uploads() == []
    assert _pg_children("pg_dump") == []


def test_backup_verify_restore_roundtrip(store, srcdb, scratch):
    res = bs.backup_database(srcdb["url"], store, "db/full.dump.zst")
    side = store.read_sidecar("db/full.dump.zst")
    assert side["sha256"] == res.sha256 and side["size"] == res.size
    assert side["raw_size"] == res.raw_size > res.size > 0
    assert store.head("db/full.dump.zst")["size"] == res.size
    assert res.server_version.startswith("15.") and res.duration > 0

    ver = bs.verify_backup(store, "db/full.dump.zst")
    assert ver.sha256 == res.sha256 and ver.raw_size == res.raw_size
    assert set(ver.tables) == {"public.items", "Sales Q1 odd name", "public.nopk",
                               "public.empty_t"}
    assert ver.toc_entries >= 8

    rr = bs.restore_to_scratch(ADMIN, store, "db/full.dump.zst", scratch)
    assert rr.sha256 == res.sha256 and rr.raw_size == res.raw_size
    target = pg.PgConn.parse(ADMIN).with_db(scratch)
    counts = pg.table_row_counts(target)
    assert counts == pg.table_row_counts(srcdb["admin_db"])
    assert counts["public.items"] == 6000 and counts['Sales Q1.odd name'] == 500
    assert counts["public.empty_t"] == 0
    assert pg.table_checksums(target) == pg.table_checksums(srcdb["admin_db"])


def test_restore_swap_in(store, srcdb, scratch):
    """Restore into scratch, then make it live by rename; the old live db is kept aside."""
    live, old = f"{scratch}_live", f"{scratch}_old"
    try:
        pg.create_database(ADMIN, live)
        bs.backup_database(srcdb["url"], store, "db/swap")
        bs.restore_to_scratch(ADMIN, store, "db/swap", scratch)
        pg.swap_in_database(ADMIN, scratch, live, keep_old_as=old)
        assert not pg.database_exists(ADMIN, scratch)
        assert pg.database_exists(ADMIN, old)
        assert pg.table_row_counts(pg.PgConn.parse(ADMIN).with_db(live))["public.items"] == 6000
    finally:
        pg.drop_database(ADMIN, live)
        pg.drop_database(ADMIN, old)


def test_pg_dump_killed_mid_stream(store, srcdb, monkeypatch):
    real_spawn = pg.spawn

    class KillAfterFirstRead:
        def __init__(self, proc):
            self.proc, self.reads = proc, 0

        def read(self, n):
            data = self.proc._real_stdout.read(n)
            self.reads += 1
            if self.reads == 1:
                self.proc.kill()
                self.proc.wait()
            return data

        def close(self):
            self.proc._real_stdout.close()

    def spawn(*args, **kwargs):
        proc = real_spawn(*args, **kwargs)
        proc._real_stdout = proc.stdout
        proc.stdout = KillAfterFirstRead(proc)
        return proc

    monkeypatch.setattr(pg, "spawn", spawn)
    with pytest.raises(bs.BackupError, match=r"pg_dump of bk_src_\w+ was killed by SIGKILL"):
        bs.backup_database(srcdb["url"], store, "db/killed", read_size=64 * 1024)
    _assert_nothing_left(store, "db/killed")


def test_pg_dump_error_on_stderr_aborts(store, srcdb):
    """A role without read rights: pg_dump starts, then fails with 'permission denied'."""
    role = f"bk_noperm_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(ADMIN, autocommit=True) as c:
        c.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN").format(psycopg.sql.Identifier(role)))
    try:
        url = f"postgresql://{role}@127.0.0.1:5432/{srcdb['name']}"
        with pytest.raises(bs.BackupError, match="permission denied"):
            bs.backup_database(url, store, "db/noperm")
        _assert_nothing_left(store, "db/noperm")
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as c:
            c.execute(psycopg.sql.SQL("DROP ROLE {}").format(psycopg.sql.Identifier(role)))


@pytest.mark.parametrize(("status", "code"), [(500, "InternalError"),
                                              (507, "InsufficientStorage")])
def test_upload_part_failure_aborts(store, srcdb, s3srv, status, code):
    rule = s3srv.fail_upload_part(status=status, times=None)
    with pytest.raises(bs.BackupError, match=code):
        bs.backup_database(srcdb["url"], store, "db/fault")
    assert rule.fired >= 1
    _assert_nothing_left(store, "db/fault")


def test_single_500_is_retried_by_boto(store, srcdb, s3srv):
    retrying = S3Store(S3Settings(bucket=store.bucket, endpoint_url=s3srv.endpoint_url,
                                  access_key="test", secret_key="test", max_attempts=3))
    rule = s3srv.fail_upload_part(status=500, times=1)
    res = bs.backup_database(srcdb["url"], retrying, "db/retried")
    assert rule.fired == 1
    assert bs.verify_backup(retrying, "db/retried").sha256 == res.sha256


def test_cancel_kills_blocked_pg_dump_promptly(store, srcdb):
    """pg_dump waits on a lock (no output at all); cancel still ends it within ~1 s."""
    holder = psycopg.connect(srcdb["admin_db"].conninfo())
    holder.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
    try:
        asked = threading.Event()
        t0 = time.monotonic()

        def should_cancel():
            asked.set()
            return time.monotonic() - t0 > 0.5

        with pytest.raises(bs.BackupCancelled):
            bs.backup_database(srcdb["url"], store, "db/cancelled", should_cancel=should_cancel)
        assert time.monotonic() - t0 < 3
        assert asked.is_set()
    finally:
        holder.rollback()
        holder.close()
    _assert_nothing_left(store, "db/cancelled")


def test_corrupted_object_fails_restore_and_drops_scratch(store, srcdb, s3srv, scratch):
    bs.backup_database(srcdb["url"], store, "db/corrupt")
    rule = s3srv.corrupt_get("db/corrupt")
    with pytest.raises(bs.ChecksumMismatch, match="sha256 mismatch"):
        bs.restore_to_scratch(ADMIN, store, "db/corrupt", scratch)
    assert rule.fired == 1
    assert not pg.database_exists(ADMIN, scratch)
    with pytest.raises(bs.ChecksumMismatch):
        bs.verify_backup(store, "db/corrupt")


def test_wrong_expected_hash_is_a_failed_restore(store, srcdb, scratch):
    """Even when the data restores cleanly, a hash mismatch at the end fails the restore."""
    bs.backup_database(srcdb["url"], store, "db/hash")
    pg.create_database(ADMIN, scratch)
    with pytest.raises(bs.ChecksumMismatch):
        bs.restore_backup(store, "db/hash", pg.PgConn.parse(ADMIN).with_db(scratch),
                          expected_sha256="0" * 64)


def test_encrypted_roundtrip_and_wrong_key(store, srcdb, scratch):
    key = os.urandom(32)
    res = bs.backup_database(srcdb["url"], store, "db/enc", encryption_key=key)
    assert res.encrypted
    head = store.get_bytes("db/enc")[:8]
    assert head == bs.ENC_MAGIC
    assert bs.verify_backup(store, "db/enc", encryption_key=key).tables
    with pytest.raises(bs.BackupError, match="wrong key or tampered"):
        bs.verify_backup(store, "db/enc", encryption_key=os.urandom(32))
    bs.restore_to_scratch(ADMIN, store, "db/enc", scratch, encryption_key=key)
    target = pg.PgConn.parse(ADMIN).with_db(scratch)
    assert pg.table_checksums(target) == pg.table_checksums(srcdb["admin_db"])


def test_secrets_never_in_argv(store, srcdb, scratch, monkeypatch):
    seen = []
    real_popen = subprocess.Popen

    class Recording(real_popen):
        def __init__(self, args, *a, **kw):
            super().__init__(args, *a, **kw)
            try:
                cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes()
                environ = Path(f"/proc/{self.pid}/environ").read_bytes()
            except OSError:
                cmdline = environ = b""
            if not environ:
                # A quick child can be gone (a zombie reads empty) before this thread looks
                # under load: then check the environment it was given instead.
                environ = "\0".join(f"{k}={v}" for k, v in (kw.get("env") or {}).items()
                                     ).encode()
            seen.append((list(args), cmdline, environ, kw.get("shell", False)))

    monkeypatch.setattr(subprocess, "Popen", Recording)
    bs.backup_database(srcdb["url"], store, "db/secret")
    bs.verify_backup(store, "db/secret")
    with pytest.raises(pg.PgError) as exc_info:
        pg.check_tool_version(srcdb["url"], tool_ver=(9, 6))
    tools = {Path(args[0]).name for args, *_ in seen}
    assert {"pg_dump", "pg_restore"} <= tools
    for args, cmdline, environ, shell in seen:
        assert not shell
        assert SECRET not in " ".join(args)
        assert SECRET.encode() not in cmdline
        assert quote(SECRET, safe="").encode() not in cmdline
        if Path(args[0]).name == "pg_dump" and "--version" not in args:
            assert f"PGPASSWORD={SECRET}".encode() in environ.split(b"\0")
    assert SECRET not in str(exc_info.value)
    assert SECRET not in repr(pg.PgConn.parse(srcdb["url"]))


def test_version_check_names_both_versions(srcdb, tmp_path, store):
    with pytest.raises(pg.PgError, match=r"pg_dump 14\.9 is older than the PostgreSQL server 15\."):
        pg.check_tool_version(srcdb["url"], tool_ver=(14, 9))
    fake = tmp_path / "pg_dump"
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 12.3 (Debian 12.3-1)'\n")
    fake.chmod(0o755)
    with pytest.raises(pg.PgError, match=r"pg_dump 12\.3 is older .* server 15\.\d+"):
        bs.backup_database(srcdb["url"], store, "db/old", bin_dir=str(tmp_path))
    assert store.list_uploads() == [] and store.head("db/old") is None


def test_restore_cancel_and_pg_restore_failure(store, srcdb, scratch):
    bs.backup_database(srcdb["url"], store, "db/r")
    with pytest.raises(bs.BackupCancelled):
        bs.restore_to_scratch(ADMIN, store, "db/r", scratch, should_cancel=lambda: True)
    assert not pg.database_exists(ADMIN, scratch)
    assert _pg_children("pg_restore") == []
    # A target that already has the tables: pg_restore --exit-on-error fails, we say why.
    pg.create_database(ADMIN, scratch)
    target = pg.PgConn.parse(ADMIN).with_db(scratch)
    pg.run_psql(target, "CREATE TABLE items (x int);")
    with pytest.raises(bs.BackupError, match=r"pg_restore into bk_scratch_\w+ failed .*exists"):
        bs.restore_backup(store, "db/r", target)
