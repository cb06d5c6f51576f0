"""Load benchmark: the main pages and list APIs under concurrent clients, against gunicorn.

    .venv/bin/python bench/load.py [--entities 10000] [--runs 10000] [--seconds 15]
        [--concurrency 2,4,8] [--web-workers 4] [--web-threads 1]
        [--database-url postgres://postgres@127.0.0.1:5432/portal_loadbench] [--keep]

Fills a fresh database (the embedded SQLite in a temporary data dir, or the PostgreSQL
database named by --database-url, created and dropped here) with N catalog entities (the
catalog importer on bench/catalog.py's generated files: relations included), N runs with
log lines and audit events, and a few environments with releases, targets, secrets and
backups. Starts gunicorn as scripts/portal web does (gthread, 4 worker processes x 1 thread
unless told otherwise) on a free 127.0.0.1 port, warms it up, then prints for each endpoint:
queries per request (measured in-process), a serial pass (one client: the server's own time)
and one concurrent pass per --concurrency level (keep-alive clients in a closed loop for
--seconds): requests/s, p50, p95. Target: p95 <= 100 ms for list pages of 50 items on a
2-core machine; the summary says up to which level it holds (for the list pages, and for
every page). The load generator runs on the same 2 cores. Stops by itself and cleans up.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import importlib.util
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 100
ENVIRONMENTS = [("dev", "dev"), ("test", "test"), ("staging", "test"), ("prod", "prod"),
                ("local", "local")]
KINDS = ["plan", "apply", "deploy", "backup", "selfcheck", "catalog_import", "rotate_secret",
         "restart", "drift", "restore"]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the database --------------------------------------------------------------------------
def pg_admin(url: str, sql: str) -> None:
    import psycopg

    u = urlsplit(url)
    with psycopg.connect(host=u.hostname, port=u.port or 5432, user=u.username or "postgres",
                         password=u.password, dbname="postgres", autocommit=True,
                         connect_timeout=5) as conn:
        conn.execute(sql)


def db_name(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if not name.replace("_", "").isalnum():
        sys.exit(f"--database-url: use a plain database name, not {name!r}")
    return name


def seed(args, tmp: Path) -> None:
    from django.utils import timezone

    from catalog.importer import import_location
    from catalog.models import Location
    from envs.backups.models import Backup, BackupSource, Verification
    from envs.deploys.models import Release, Target
    from envs.models import Environment
    from envs.secrets.models import Secret
    from portal.audit.models import AuditEvent
    from portal.runs.models import Run, RunLine

    spec = importlib.util.spec_from_file_location("bench_catalog", ROOT / "bench" / "catalog.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    started = time.monotonic()
    gen.generate(tmp / "catalog", args.entities)
    location = Location.objects.create(kind="local", target=str(tmp / "catalog"), trusted=True)
    result = import_location(location)
    if not result.ok:
        sys.exit(f"catalog import failed: {result.errors[:3]}")
    print(f"  catalog: {result.entities} entities imported in {time.monotonic() - started:.1f} s")

    started = time.monotonic()
    envs = [Environment.objects.create(name=name, tier=tier, description=f"{name} (bench)")
            for name, tier in ENVIRONMENTS]
    targets = [e.target for e in envs] + ["portal", location.run_target]
    rnd = random.Random(3)
    now = timezone.now()
    statuses = ["succeeded"] * 14 + ["failed"] * 3 + ["canceled", "planned", "discarded"]
    batch = []
    for i in range(args.runs):
        created = now - timedelta(seconds=i * 30 * 86400 / max(1, args.runs))
        status = statuses[rnd.randrange(len(statuses))]
        batch.append(Run(kind=rnd.choice(KINDS), target=rnd.choice(targets), status=status,
                         actor=rnd.choice(["owner", "owner (token ab12)", "scheduler"]),
                         scheduled=i % 7 == 0, params={"n": i}, created_at=created,
                         started_at=created + timedelta(seconds=0.2),
                         finished_at=created + timedelta(seconds=rnd.randint(1, 600)),
                         error="exit 1" if status == "failed" else "", line_count=3))
    runs = Run.objects.bulk_create(batch, batch_size=2000)
    if runs and runs[0].pk is None:
        runs = list(Run.objects.all())
    lines = [RunLine(run=r, seq=s, ts=r.created_at, text=f"step {s} of run {r.pk}: ok")
             for r in runs for s in (1, 2, 3)]
    RunLine.objects.bulk_create(lines, batch_size=5000)
    AuditEvent.objects.bulk_create(
        [AuditEvent(actor=r.actor, action="run.start", target=r.target, outcome="success",
                    detail={"kind": r.kind}, run=r) for r in runs], batch_size=5000)
    for env in envs:
        for i in range(20):
            component = f"component:default/svc-{i}"
            Target.objects.create(environment=env, component=component, deployment=f"svc-{i}",
                                  container="app", explicit=True)
            Release.objects.create(environment=env, component=component, image=f"ghcr.io/o/"
                                   f"svc-{i}:1.{i}", workload=f"deployment {env.name}/svc-{i}",
                                   actor="owner")
            Secret.objects.create(environment=env, name=f"KEY_{i}", version=1, set_at=now,
                                  set_by="owner")
        source = BackupSource.objects.create(environment=env, name="db",
                                             database_url="postgres://u:p@127.0.0.1/app")
        Backup.objects.bulk_create([
            Backup(source=source, key=f"portal-backups/{env.name}/db/{i}.dump.zst",
                   sha256="0" * 64, verification=Verification.VERIFIED, size=1000 + i,
                   created_at=now - timedelta(days=i)) for i in range(60)])
    print(f"  runs: {len(runs)} runs, {len(lines)} log lines, {len(runs)} audit events, "
          f"{len(envs)} environments in {time.monotonic() - started:.1f} s")


# --- requests ------------------------------------------------------------------------------
# The endpoints that are "list pages of 50 items" (the issue's target); the others are
# overview and detail pages, reported against the same 100 ms.
LISTS = {"/runs/", "/catalog/", "/audit/", "/api/runs/", "/api/catalog/entities/",
         "/api/audit/", "/api/envs/"}


def endpoints(args) -> list[tuple[str, str, bool]]:
    """(label, path, is_api). Paths with {page} get a random page among the first 20."""
    pages = [("dashboard /", "/"), ("/runs/", "/runs/?page={page}"),
             ("/catalog/", "/catalog/?page={page}"), ("/audit/", "/audit/?page={page}"),
             ("/envs/", "/envs/"), ("/envs/dev/", "/envs/dev/"),
             ("entity page", "/catalog/component/default/svc-{page}/")]
    apis = [("/api/runs/", "/api/runs/?page_size=50&page={page}"),
            ("/api/catalog/entities/", "/api/catalog/entities/?page_size=50&page={page}"),
            ("/api/audit/", "/api/audit/?page_size=50&page={page}"),
            ("/api/envs/", "/api/envs/?page_size=50")]
    return [(label, path, False) for label, path in pages] + \
           [(label, path, True) for label, path in apis]


class Client:
    """One keep-alive connection; cookie for pages, bearer token for the API."""

    def __init__(self, port: int, cookie: str, token: str):
        self.port, self.cookie, self.token = port, cookie, token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(self, path: str, is_api: bool) -> tuple[int, float]:
        headers = {"Authorization": f"Bearer {self.token}"} if is_api else {
            "Cookie": self.cookie}
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.conn.request("GET", path, headers=headers)
                response = self.conn.getresponse()
                response.read()
                return response.status, (time.perf_counter() - started) * 1000
            except (http.client.HTTPException, OSError):
                self.conn.close()  # the server closed the keep-alive connection: reconnect
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class ServerCpu:
    """CPU seconds used by gunicorn's workers (/proc, clock ticks): what a request costs the
    server whatever else the machine is doing, unlike latency under shared load."""

    def __init__(self, arbiter_pid: int):
        self.arbiter = arbiter_pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> float:
        try:
            children = Path(f"/proc/{self.arbiter}/task/{self.arbiter}/children").read_text()
        except OSError:
            return 0.0
        total = 0
        for pid in children.split():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / self.tick


def drive(port, cookie, token, targets, seconds: float, concurrency: int, seed: int,
          cpu: ServerCpu | None = None):
    """Closed loop: each client sends its next request when the last one is answered. With
    ``cpu`` (one client only), the server CPU each request used is summed per endpoint."""
    results: dict[str, list[float]] = {label: [] for label, _p, _a in targets}
    cpu_used: dict[str, float] = {label: 0.0 for label, _p, _a in targets}
    errors: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def worker(n: int) -> None:
        rnd = random.Random(seed + n)
        client = Client(port, cookie, token)
        mine: list[tuple[str, float, int]] = []
        i = n
        while time.monotonic() < deadline:
            label, path, is_api = targets[i % len(targets)]
            i += 1
            before = cpu.seconds() if cpu else 0.0
            status, ms = client.get(path.format(page=rnd.randint(1, 20)), is_api)
            if cpu:
                cpu_used[label] += cpu.seconds() - before
            mine.append((label, ms, status))
        client.conn.close()
        with lock:
            for label, ms, status in mine:
                results[label].append(ms)
                if status != 200:
                    errors[label] = errors.get(label, 0) + 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if cpu:
        return results, errors, time.monotonic() - started, cpu_used
    return results, errors, time.monotonic() - started


def query_counts(targets, token: str, owner) -> dict[str, int]:
    """Queries per request, in-process (the same code gunicorn runs)."""
    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext

    pages, api = DjangoClient(), DjangoClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    pages.force_login(owner)
    counts = {}
    for label, path, is_api in targets:
        client = api if is_api else pages
        client.get(path.format(page=2))
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path.format(page=3))
        counts[label] = len(captured) if response.status_code == 200 else -response.status_code
    return counts


# --- main ----------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=15,
                        help="length of each concurrent pass")
    parser.add_argument("--concurrency", default="2,4,8",
                        help="comma-separated numbers of concurrent clients, one pass each")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--web-workers", type=int, default=4,
                        help="gunicorn worker processes (scripts/portal web's default: 4)")
    parser.add_argument("--web-threads", type=int, default=1,
                        help="threads per gunicorn worker (scripts/portal web's default: 1)")
    args = parser.parse_args()
    try:
        levels = [int(n) for n in args.concurrency.split(",")]
        assert levels and min(levels) >= 1
    except (ValueError, AssertionError):
        parser.error(f"--concurrency: positive numbers separated by commas, not "
                     f"{args.concurrency!r}")

    tmp = Path(tempfile.mkdtemp(prefix="portal-bench-load-"))
    for name in ("DATABASE_URL", "REDIS_URL", "PORTAL_PUBLIC_URL"):
        os.environ.pop(name, None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="portal.settings", PORTAL_DATA_DIR=str(tmp / "data"),
        PORTAL_ENCRYPTION_KEYS=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        PORTAL_SECRET_KEY=secrets.token_urlsafe(50), PORTAL_LOG_LEVEL="WARNING",
        PORTAL_DEBUG="0", CHECKPOINT_DISABLE="1", PORTAL_EXTRA_HOSTS="testserver",
    )
    if args.database_url:
        name = db_name(args.database_url)
        pg_admin(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        pg_admin(args.database_url, f'CREATE DATABASE "{name}"')
        os.environ["DATABASE_URL"] = args.database_url
    server = None
    try:
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        from portal.auth.models import ApiToken, owner_user

        call_command("migrate", verbosity=0, interactive=False)
        print(f"database: {connection.vendor} ({args.database_url or tmp / 'data'}); "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        seed(args, tmp)
        owner = owner_user()
        _token, token = ApiToken.issue(owner, "load-bench", "read")
        targets = endpoints(args)
        counts = query_counts(targets, token, owner)

        # A session for the pages: the cookie a signed-in browser would send.
        from django.conf import settings
        from django.test import Client as DjangoClient

        browser = DjangoClient()
        browser.force_login(owner)
        cookie = f"{settings.SESSION_COOKIE_NAME}=" \
                 f"{browser.cookies[settings.SESSION_COOKIE_NAME].value}"
        connection.close()  # SQLite: gunicorn gets the database to itself

        port = free_port()
        log = open(tmp / "gunicorn.log", "w")  # noqa: SIM115
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "portal.wsgi:application", "--worker-class",
             "gthread", "--workers", str(args.web_workers), "--threads",
             str(args.web_threads), "--bind", f"127.0.0.1:{port}",
             "--keep-alive", "30", "--log-level", "warning"],
            cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                if Client(port, cookie, token).get("/healthz", True)[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"gunicorn did not start:\n{(tmp / 'gunicorn.log').read_text()[-2000:]}")
            time.sleep(0.2)

        drive(port, cookie, token, targets, 3, max(levels), seed=100)  # warm-up
        cpu = ServerCpu(server.pid)
        serial, serial_errors, _, cpu_used = drive(port, cookie, token, targets,
                                                   max(5.0, args.seconds / 2), 1, seed=200,
                                                   cpu=cpu)
        cpu_ms = {label: 1000 * cpu_used[label] / max(1, len(serial[label]))
                  for label in cpu_used}
        passes, failed = [], bool(serial_errors)
        for n, level in enumerate(levels):
            cpu_before = cpu.seconds()
            results, errors, elapsed = drive(port, cookie, token, targets, args.seconds,
                                             level, seed=300 + n)
            report(targets, counts, serial, serial_errors, results, errors, elapsed, args,
                   level, cpu_ms, cpu.seconds() - cpu_before)
            passes.append((level, results))
            failed = failed or bool(errors)
        summary(serial, passes)
        return 1 if failed else 0
    finally:
        if server is not None and server.poll() is None:
            server.terminate()  # gunicorn's arbiter stops its workers
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(server.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if args.database_url:
            from django.db import connections

            connections.close_all()
            pg_admin(args.database_url,
                     f'DROP DATABASE IF EXISTS "{db_name(args.database_url)}" WITH (FORCE)')
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def summary(serial, passes) -> None:
    """Up to which number of clients the target holds, for the list pages and for all."""
    levels = [(1, serial)] + passes

    def held(labels) -> str:
        ok = []  # the levels, from 1 client up, until the first one that misses
        for n, results in levels:
            if not all(percentile(results[label], 95) <= TARGET_MS
                       for label in labels if results[label]):
                break
            ok.append(n)
        worst = {n: max((percentile(results[label], 95), label) for label in labels
                        if results[label]) for n, results in levels}
        text = ", ".join(f"{n} client{'s' if n > 1 else ''}: {worst[n][0]:.0f} ms "
                         f"({worst[n][1]})" for n, _r in levels)
        verdict = (f"met with up to {max(ok)} concurrent client{'s' if max(ok) > 1 else ''}"
                   if ok else "not met even with 1 client")
        return f"{verdict}; worst p95 at {text}"

    print(f"\nTarget p95 <= {TARGET_MS} ms")
    print(f"  list pages and list APIs of 50 items: {held(sorted(LISTS))}")
    print(f"  every endpoint (dashboard, environment page, entity page too): "
          f"{held(sorted(serial))}")


def report(targets, counts, serial, serial_errors, results, errors, elapsed, args, level,
           cpu_ms, cpu_loaded) -> None:
    print(f"\n{'endpoint':<24}{'queries':>8}{'CPU ms':>7} | {'1 client p50':>12}{'p95':>7} | "
          f"{level} clients: {'req/s':>6}{'p50':>7}{'p95':>7}  target p95 <= "
          f"{TARGET_MS} ms")
    for label, _path, _api in targets:
        one, many = serial[label], results[label]
        if not many or not one:
            print(f"{label:<24} no requests")
            continue
        p95 = percentile(many, 95)
        flag = ("met" if p95 <= TARGET_MS else "MISSED") + (" (list)" if label in LISTS else "")
        bad = errors.get(label, 0) + serial_errors.get(label, 0)
        print(f"{label:<24}{counts[label]:>8}{cpu_ms[label]:>7.1f} | "
              f"{statistics.median(one):>10.1f}ms"
              f"{percentile(one, 95):>7.1f} | {len(many) / elapsed:>17.1f}"
              f"{statistics.median(many):>7.1f}{p95:>7.1f}  {flag}"
              f"{f'  ({bad} non-200 answers)' if bad else ''}")
    every = [ms for values in results.values() for ms in values]
    print(f"{'overall':<24}{'':>15} | {'':>12}{'':>7} | {len(every) / elapsed:>17.1f}"
          f"{statistics.median(every):>7.1f}{percentile(every, 95):>7.1f}  "
          f"{'met' if percentile(every, 95) <= TARGET_MS else 'MISSED'}")
    print(f"({len(every)} requests in {elapsed:.1f} s from {level} keep-alive clients "
          f"against gunicorn gthread {args.web_workers} workers x {args.web_threads} threads; "
          f"load average now "
          f"{os.getloadavg()[0]:.1f})")
    per_request = 1000 * cpu_loaded / max(1, len(every))
    print(f"gunicorn CPU per request under load: {per_request:.1f} ms (the database server's "
          f"own CPU not included): 2 free cores would serve about "
          f"{2000 / max(per_request, 0.1):.0f} requests/s of this mix. 'CPU ms' above: the "
          f"workers' CPU per request in the 1-client pass (10 ms clock ticks, averaged).")


if __name__ == "__main__":
    sys.exit(main())
