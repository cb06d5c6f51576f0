"""Memory stays flat while streaming a ~50 MB database (backup + verify) in a child process.

The pipeline runs in a separate Python process so the measurement is not blurred by pytest or
by moto (which keeps uploaded objects in this process's memory). The child reports its RSS
after warm-up and its peak RSS (VmHWM) after each step.
Set PORTAL_BACKUP_MEMORY_MB to change the size (default 50).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from portal.lib import backup_stream as bs  # noqa: E402
from portal.lib import pg  # noqa: E402
from tests.fakes.s3server import S3TestServer  # noqa: E402

ADMIN = os.environ.get("PORTAL_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
SIZE_MB = int(os.environ.get("PORTAL_BACKUP_MEMORY_MB", "50"))

CHILD = r"""
import json, sys
from portal.lib import backup_stream as bs
from portal.lib.s3 import S3Settings, S3Store

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

endpoint, db = sys.argv[1], sys.argv[2]
store = S3Store(S3Settings(bucket="mem", endpoint_url=endpoint, access_key="t", secret_key="t"))
store.ensure_bucket()
store.upload_stream("warmup", iter([b"x" * 1024]))  # build the client and its pools
base = status("VmRSS")
res = bs.backup_database(db, store, "mem/big.dump.zst")
after_backup = status("VmHWM")
try:
    with open("/proc/self/clear_refs", "w") as f:  # reset VmHWM to the current RSS
        f.write("5")
except OSError:
    pass
ver = bs.verify_backup(store, "mem/big.dump.zst")
print(json.dumps({"base": base, "backup_peak": after_backup, "verify_peak": status("VmHWM"),
                  "raw": res.raw_size, "size": res.size, "seconds": res.duration,
                  "verify_seconds": ver.duration, "tables": ver.tables}))
"""


@pytest.fixture(scope="module")
def bigdb():
    name = f"bk_big_{uuid.uuid4().hex[:8]}"
    pg.create_database(ADMIN, name)
    db = pg.PgConn.parse(ADMIN).with_db(name)
    rows = SIZE_MB * 1024 * 1024 // 165  # ~165 bytes of pg_dump output per row
    pg.run_psql(db, f"""
        CREATE TABLE big (id bigint, t text, j jsonb);
        INSERT INTO big SELECT g, md5(random()::text) || md5(random()::text)
                                  || md5(random()::text),
                        jsonb_build_object('a', md5(random()::text), 'b', g)
        FROM generate_series(1, {rows}) g;
    """)
    yield db
    pg.drop_database(ADMIN, name)


def test_streaming_memory_is_flat(bigdb):
    with S3TestServer() as srv:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        proc = subprocess.run([sys.executable, "-c", CHILD, srv.endpoint_url, bigdb.conninfo()],
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        r = json.loads(proc.stdout.strip().splitlines()[-1])

        cmd, cmd_env = bs.pg_dump_cmd_for_bench(bigdb)
        t0 = time.monotonic()
        subprocess.run(f"{cmd} > /dev/null", shell=True, env=cmd_env, check=True)
        shell_seconds = time.monotonic() - t0

    mib = 1024 * 1024
    growth_backup = (r["backup_peak"] - r["base"]) / mib
    growth_verify = (r["verify_peak"] - r["base"]) / mib
    print(f"\nraw {r['raw'] / mib:.1f} MiB -> stored {r['size'] / mib:.1f} MiB; "
          f"backup {r['seconds']:.2f}s ({r['raw'] / mib / r['seconds']:.0f} MiB/s raw), "
          f"verify {r['verify_seconds']:.2f}s, shell pg_dump|zstd {shell_seconds:.2f}s; "
          f"RSS base {r['base'] / mib:.0f} MiB, peak growth backup {growth_backup:.1f} MiB, "
          f"verify {growth_verify:.1f} MiB")
    assert r["raw"] > SIZE_MB * mib * 0.8
    assert r["tables"] == ["public.big"]
    assert growth_backup < 64 and growth_verify < 64
