"""portal.lib.s3 against moto over HTTP, portal.lib.pg helpers, and the encryption format."""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from portal.lib import backup_stream as bs  # noqa: E402
from portal.lib import pg  # noqa: E402
from portal.lib.s3 import MIB, S3Error, S3Settings, S3Store, sidecar_key  # noqa: E402
from tests.fakes.s3server import S3TestServer  # noqa: E402

ADMIN = os.environ.get("PORTAL_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module")
def s3srv():
    with S3TestServer() as srv:
        yield srv


@pytest.fixture()
def store(s3srv):
    s3srv.reset()
    st = S3Store(S3Settings(bucket="libtest", endpoint_url=s3srv.endpoint_url,
                            access_key="test", secret_key="test", max_attempts=1))
    st.ensure_bucket()
    return st


# -- S3 ------------------------------------------------------------------------------------------
def test_client_is_lazy_and_path_style(s3srv):
    st = S3Store(S3Settings(bucket="x", endpoint_url=s3srv.endpoint_url, access_key="a",
                            secret_key="b"))
    assert st._client is None
    assert st.client.meta.config.s3["addressing_style"] == "path"
    assert st.client is st.client


def test_multipart_upload_download_and_sidecar(store):
    chunks = [os.urandom(MIB) for _ in range(19)] + [b"tail"]
    data = b"".join(chunks)
    res = store.upload_stream("a/obj", iter(chunks), metadata={"format": "t"},
                              sidecar=lambda: {"extra": 1})
    assert res.parts == 3 and res.size == len(data)
    assert res.sha256 == hashlib.sha256(data).hexdigest()
    assert store.read_sidecar("a/obj") == {"sha256": res.sha256, "size": len(data), "extra": 1}
    assert store.head("a/obj")["metadata"] == {"format": "t"}
    pieces = list(store.download_stream("a/obj", chunk_size=MIB))
    assert b"".join(pieces) == data and max(map(len, pieces)) <= MIB


def test_parts_in_flight_keep_order_and_abort_cleanly(store, s3srv):
    chunks = [os.urandom(MIB) for _ in range(41)]  # 6 parts, up to 2 uploading at once
    data = b"".join(chunks)
    s3srv.delay_upload_part(0.05)  # so parts really overlap
    res = store.upload_stream("c/obj", iter(chunks), concurrency=2)
    assert res.parts == 6 and store.get_bytes("c/obj") == data
    assert res.sha256 == hashlib.sha256(data).hexdigest()
    s3srv.clear_faults()
    s3srv.fail_upload_part(status=507, times=None)
    with pytest.raises(S3Error, match="InsufficientStorage"):
        store.upload_stream("c/bad", iter(chunks), concurrency=2)
    s3srv.clear_faults()
    assert store.list_uploads() == [] and store.head("c/bad") is None


def test_empty_upload_makes_empty_object(store):
    res = store.upload_stream("empty", iter([]))
    assert res.size == 0 and res.sha256 == hashlib.sha256(b"").hexdigest()
    assert store.get_bytes("empty") == b""


def test_producer_exception_aborts_upload(store):
    def producer():
        yield os.urandom(9 * MIB)  # one part already uploaded
        raise RuntimeError("producer broke")

    with pytest.raises(RuntimeError, match="producer broke"):
        store.upload_stream("broken", producer())
    assert store.list_uploads() == []
    assert store.head("broken") is None and store.head(sidecar_key("broken")) is None


def test_s3error_message(store):
    with pytest.raises(S3Error) as exc_info:
        store.get_bytes("no/such/key")
    err = exc_info.value
    assert err.code == "NoSuchKey" and err.key == "no/such/key"
    assert "get_object" in str(err) and "s3://libtest/no/such/key" in str(err)
    assert store.head("no/such/key") is None
    assert store.read_sidecar("no/such/key") is None


def test_list_paginates_and_delete_many(store):
    for i in range(25):
        store.put_bytes(f"p/{i:02d}", b"x" * i)
    store.put_bytes("other", b"o")
    listed = list(store.list("p/", page_size=10))
    assert [o.key for o in listed] == [f"p/{i:02d}" for i in range(25)]
    assert listed[3].size == 3
    assert store.delete_many(o.key for o in listed) == 25
    assert [o.key for o in store.list()] == ["other"]


def test_abort_stale_uploads(store):
    up = store.client.create_multipart_upload(Bucket=store.bucket, Key="stale/one")
    (found,) = store.list_uploads("stale/")
    assert found.upload_id == up["UploadId"]
    # Nothing is older than a cutoff placed before its start.
    before = found.initiated - timedelta(minutes=5)
    assert store.abort_stale_uploads(timedelta(hours=1), now=before) == []
    assert len(store.list_uploads()) == 1
    aborted = store.abort_stale_uploads(timedelta(hours=1),
                                        now=found.initiated + timedelta(hours=2))
    assert [u.upload_id for u in aborted] == [up["UploadId"]]
    assert store.list_uploads() == []
    assert store.abort_stale_uploads(timedelta(0), now=datetime.now(UTC)) == []


def test_versioning_and_versions(store):
    assert store.versioning_status() == "Disabled"
    store.set_versioning(True)
    assert store.versioning_status() == "Enabled"
    for body in (b"v1", b"v2", b"v3"):
        store.put_bytes("tf/state", body)
    store.put_bytes("tf/state.backup", b"not me")
    store.client.delete_object(Bucket=store.bucket, Key="tf/state")
    versions = store.list_versions("tf/state")
    assert len(versions) == 4 and all(v.key == "tf/state" for v in versions)
    assert versions[0].is_latest and versions[0].is_delete_marker
    data = [store.get_bytes("tf/state", version_id=v.version_id) for v in versions[1:]]
    assert data == [b"v3", b"v2", b"v1"]
    store.set_versioning(False)
    assert store.versioning_status() == "Suspended"


# -- encryption format ---------------------------------------------------------------------------
def _encrypt(key: bytes, data: bytes, frame: int = 1000) -> bytes:
    enc = bs.Encryptor(key, frame_size=frame)
    return enc.feed(data[:1500]) + enc.feed(data[1500:]) + enc.finish()


def _decrypt(key: bytes, blob: bytes, step: int = 777) -> bytes:
    dec = bs.Decryptor(key)
    out = b"".join(dec.feed(blob[i:i + step]) for i in range(0, len(blob), step))
    dec.finish()
    return out


def _frames(blob: bytes) -> tuple[bytes, list[bytes]]:
    header, rest, frames = blob[:28], blob[28:], []
    while rest:
        _flag, n = struct.unpack(">BI", rest[:5])
        frames.append(rest[:5 + n])
        rest = rest[5 + n:]
    return header, frames


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 1001, 5000])
def test_encryption_roundtrip(size):
    key, data = os.urandom(32), os.urandom(size)
    blob = _encrypt(key, data)
    assert _decrypt(key, blob) == data
    assert blob.startswith(bs.ENC_MAGIC)
    if size >= 16:
        assert data[:16] not in blob


def test_encryption_detects_tampering():
    key, data = os.urandom(32), os.urandom(4500)
    blob = _encrypt(key, data)
    header, frames = _frames(blob)
    assert len(frames) == 5
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 1
    cases = {
        "bit flip": bytes(flipped),
        "truncated (final frame dropped)": header + b"".join(frames[:-1]),
        "reordered": header + frames[1] + frames[0] + b"".join(frames[2:]),
        "appended": blob + frames[-1],
        "salt changed": blob[:8] + os.urandom(16) + blob[24:],
    }
    for name, bad in cases.items():
        with pytest.raises(bs.BackupError):
            _decrypt(key, bad)
            pytest.fail(f"not detected: {name}")
    with pytest.raises(bs.BackupError, match="wrong key"):
        _decrypt(os.urandom(32), blob)
    with pytest.raises(bs.BackupError, match="bad magic"):
        _decrypt(key, b"X" * 64)


def test_same_data_encrypts_differently():
    key = os.urandom(32)
    assert _encrypt(key, b"same") != _encrypt(key, b"same")


# -- PostgreSQL helpers --------------------------------------------------------------------------
def test_pgconn_strips_password():
    c = pg.PgConn.parse("postgresql://bob:p%40ss@db.example:6432/app?sslmode=require")
    assert c.password == "p@ss" and "p@ss" not in c.conninfo() and "p@ss" not in repr(c)
    assert c.env({"PATH": "/bin", "PGPASSWORD": "old"}) == {"PATH": "/bin", "PGPASSWORD": "p@ss"}
    assert "sslmode=require" in c.conninfo() and c.with_db("x").dbname == "x"
    argv, env = pg.tool_argv("pg_dump", c, ["-Fc"])
    assert argv[1:] == ["--no-password", f"--dbname={c.conninfo()}", "-Fc"]
    assert env["PGPASSWORD"] == "p@ss"


def test_versions():
    assert pg.tool_version("pg_dump")[0] == pg.tool_version("pg_restore")[0] >= 15
    assert pg.server_version(ADMIN)[0] >= 15
    assert pg.check_tool_version(ADMIN) == pg.server_version(ADMIN)
    with pytest.raises(pg.PgError, match=r"pg_restore 13\.2 is older"):
        pg.check_tool_version(ADMIN, "pg_restore", tool_ver=(13, 2))
    with pytest.raises(pg.PgError, match="not found"):
        pg.tool_path("pg_dump", bin_dir="/nonexistent")


def test_admin_create_rename_drop_with_open_connection():
    name = f"bk_admin_{uuid.uuid4().hex[:8]}"
    new = name + "_renamed"
    try:
        pg.create_database(ADMIN, name)
        with pytest.raises(pg.PgError, match="already exists"):
            pg.create_database(ADMIN, name)
        db = pg.PgConn.parse(ADMIN).with_db(name)
        pg.run_psql(db, "CREATE TABLE t (v text); INSERT INTO t VALUES ('a'), ('b');")
        other = psycopg.connect(db.conninfo())  # a session that rename must terminate
        pg.rename_database(ADMIN, name, new)
        assert not pg.database_exists(ADMIN, name) and pg.database_exists(ADMIN, new)
        other.close()
        renamed = db.with_db(new)
        assert pg.table_row_counts(renamed) == {"public.t": 2}
        assert pg.table_checksums(renamed)["public.t"] == hashlib.md5(b"(a)\n(b)").hexdigest()
        with psycopg.connect(renamed.conninfo(), autocommit=True):  # connections allowed again
            pass
        psycopg.connect(renamed.conninfo())
        pg.drop_database(ADMIN, new)  # terminates the connection left open above
        assert not pg.database_exists(ADMIN, new)
        with pytest.raises(pg.PgError, match="must not use database"):
            pg.drop_database(ADMIN, "postgres")
        with pytest.raises(pg.PgError, match="psql exited"):
            pg.run_psql(ADMIN, "SELECT * FROM no_such_table;")
    finally:
        pg.drop_database(ADMIN, name)
        pg.drop_database(ADMIN, new)


def test_bench_command_runs(tmp_path):
    cmd, env = bs.pg_dump_cmd_for_bench(ADMIN)
    assert cmd.startswith(pg.tool_path("pg_dump")) and "| zstd" in cmd
    out = tmp_path / "d.zst"
    subprocess.run(f"{cmd} > {out}", shell=True, env=env, check=True)
    assert out.stat().st_size > 0


def test_s3_server_reset_clears_faults(s3srv, store):
    s3srv.fail_upload_part(507, times=None)
    s3srv.reset()
    assert s3srv.faults.rules == []
    S3Store(store.settings).ensure_bucket()
    assert store.upload_stream("after-reset", iter([b"ok"])).size == 2
