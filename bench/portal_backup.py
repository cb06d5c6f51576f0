#!/usr/bin/env python3
"""Self-backup and restore of a portal holding 10,000 catalog entities, 10,000 runs and
100,000 log lines (issue 15): PostgreSQL on this machine, bench/s3lean.py as the bucket.

    .venv/bin/python bench/portal_backup.py [--entities N] [--runs N] [--lines N]

Prints the wall time of `manage.py portal_backup` (snapshot, pack, upload, read back and
verify) and of `manage.py portal_restore --latest` into an empty database (download, verify,
pg_restore, counts, migrate, decrypt check), and the sizes. Each is a fresh process, as the
owner runs them; Django's start-up (~1 s) is included.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal.lib import pg  # noqa: E402

ADMIN = os.environ.get("PORTAL_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")

FILL = """
from django.utils.timezone import now
from catalog.models import Entity, Location
from envs.models import Environment
from envs.secrets.models import Secret
from portal.runs.models import Run, RunLine
E, R, L = {entities}, {runs}, {lines}
loc = Location.objects.create(kind="local", target="/bench", ref="", path="")
Entity.objects.bulk_create([Entity(ref=f"component:default/svc-{{i}}", kind="component",
    namespace="default", name=f"svc-{{i}}", api_version="backstage.io/v1alpha1",
    type="service", lifecycle="production", owner="group:default/team",
    description="bench entity " * 4, raw={{"metadata": {{"name": f"svc-{{i}}"}}}},
    sha256="0" * 64, fingerprint="0" * 64, file="catalog-info.yaml", location=loc)
    for i in range(E)], batch_size=2000)
env = Environment.objects.create(name="dev", tier="dev")
Secret.objects.create(environment=env, name="API_KEY", value="bench-secret", version=1)
runs = Run.objects.bulk_create([Run(kind="selfcheck", target="portal", actor="bench",
    status="succeeded", params={{"n": i}}) for i in range(R)], batch_size=2000)
per = max(1, L // R)
batch = []
t = now()
for run in runs:
    for n in range(per):
        batch.append(RunLine(run=run, seq=n, ts=t,
                             text=f"step {{n}} of run {{run.pk}}: terraform output line " * 2))
    if len(batch) >= 20000:
        RunLine.objects.bulk_create(batch); batch = []
RunLine.objects.bulk_create(batch)
print("filled", Entity.objects.count(), Run.objects.count(), RunLine.objects.count())
"""


def start_s3(directory: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "s3lean.py"), "--dir",
                             directory, "--host", "127.0.0.1", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("ready "):
        proc.kill()
        raise SystemExit(f"bench/s3lean.py did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def manage(env: dict[str, str], *args: str) -> tuple[float, str]:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    took = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return took, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench-portal-backup-")
    s3, endpoint = start_s3(os.path.join(work, "s3"))
    src, dst = "portal_bench_selfbackup", "portal_bench_selfrestore"
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "AWS_"))}
    base.update({"PORTAL_ENCRYPTION_KEYS": key, "PORTAL_SECRET_KEY": "bench-" + "k" * 50,
                 "PORTAL_SELF_BACKUP_PASSPHRASE": "bench passphrase",
                 "PORTAL_BACKUP_BUCKET": "bench", "PORTAL_S3_ENDPOINT_URL": endpoint,
                 "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                 "CHECKPOINT_DISABLE": "1"})
    try:
        for name in (src, dst):
            pg.drop_database(ADMIN, name)
            pg.create_database(ADMIN, name)
        old = {**base, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{src}",
               "PORTAL_DATA_DIR": os.path.join(work, "old")}
        new = {**base, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{dst}",
               "PORTAL_DATA_DIR": os.path.join(work, "new")}
        manage(old, "migrate", "-v0")
        import boto3  # noqa: PLC0415 - the bucket, once

        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench",
                     aws_secret_access_key="bench", region_name="us-east-1").create_bucket(
            Bucket="bench")
        fill_took, out = manage(old, "shell", "-c", FILL.format(
            entities=args.entities, runs=args.runs, lines=args.lines))
        print(out.strip().splitlines()[-1], f"in {fill_took:.1f} s")
        with pg.PgConn.parse(ADMIN).connect() as c:
            row = c.execute("SELECT pg_database_size(%s)", (src,)).fetchone()
            db_mib = (row[0] if row else 0) / 1048576
        backup_took, out = manage(old, "portal_backup")
        size = int(re.search(r": (\d+) bytes", out).group(1))  # type: ignore[union-attr]
        restore_took, out = manage(new, "portal_restore", "--latest")
        print(f"database on disk: {db_mib:.1f} MiB")
        print(f"portal_backup (pg_dump, pack, upload, read back, verify): {backup_took:.1f} s, "
              f"stored {size / 1048576:.2f} MiB")
        print(f"portal_restore --latest (download, verify, pg_restore, counts, migrate, "
              f"decrypt check): {restore_took:.1f} s")
        print(out.strip().splitlines()[-1])
    finally:
        s3.terminate()
        s3.wait(10)
        for name in (src, dst):
            pg.drop_database(ADMIN, name)


if __name__ == "__main__":
    main()
