"""Run engine figures on the embedded default (SQLite + django-q2 ORM broker).

    .venv/bin/python bench/runs.py [--runs 30] [--lines 100000]

Prints queue-to-start latency (p50/p95) with a real worker process, and log lines per
second stored (through the job frame) and served (through GET /api/runs/<id>/log/).
Targets: p95 queue-to-start <= 500 ms; >= 5,000 lines/s.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="portal-bench-runs-")
    for name in ("DATABASE_URL", "REDIS_URL", "PORTAL_ENCRYPTION_KEYS", "PORTAL_SECRET_KEY"):
        os.environ.pop(name, None)
    os.environ.update(PORTAL_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="portal.settings")

    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from portal.auth.models import ApiToken, owner_user
    from portal.runs.engine import execute_run
    from portal.runs.kinds import RunKind, register
    from portal.runs.models import Run

    call_command("migrate", verbosity=0)
    print(f"embedded default in {data_dir} (SQLite, ORM broker, poll 0.2 s)")

    # --- queue-to-start with a real worker --------------------------------------------
    env = dict(os.environ, PORTAL_SELFCHECK_SECONDS="0.05")
    worker = subprocess.Popen([sys.executable, "manage.py", "run_worker"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        time.sleep(3)  # cluster start-up
        latencies = []
        for _ in range(args.runs):
            run = Run.start("selfcheck", target="bench")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                run.refresh_from_db()
                if run.started_at:
                    break
                time.sleep(0.01)
            latencies.append(run.queue_seconds * 1000)
            while Run.objects.filter(pk=run.pk, status__in=["queued", "running"]).exists():
                time.sleep(0.02)
    finally:
        worker.terminate()  # the cluster stops its own workers
        try:
            worker.wait(timeout=20)
        finally:
            try:
                os.killpg(worker.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    print(f"queue-to-start over {len(latencies)} runs: p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
          f"max {max(latencies):.0f} ms (target p95 <= 500 ms: "
          f"{'met' if p95 <= 500 else 'MISSED'})")

    # --- lines stored through the job frame -------------------------------------------
    def many_lines(ctx):
        for number in range(args.lines):
            ctx.log(f"bench line {number} " + "x" * 60)

    register(RunKind(name="bench_lines", label="bench", execute=many_lines))
    run = Run.start("bench_lines", target="bench")
    started = time.perf_counter()
    execute_run(run.pk)
    stored_s = time.perf_counter() - started
    run.refresh_from_db()
    assert run.line_count == args.lines, run.line_count
    stored_rate = args.lines / stored_s
    print(f"stored {args.lines} lines in {stored_s:.2f} s: {stored_rate:,.0f} lines/s "
          f"(target >= 5,000: {'met' if stored_rate >= 5000 else 'MISSED'})")

    # --- lines served by the API --------------------------------------------------------
    _token, plaintext = ApiToken.issue(owner_user(), "bench", "read")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}", HTTP_HOST="127.0.0.1")
    after, served = 0, 0
    started = time.perf_counter()
    while True:
        body = client.get(f"/api/runs/{run.pk}/log/?after={after}").json()
        served += len(body["lines"])
        if body["lines"]:
            after = body["lines"][-1]["seq"]
        if body["finished"]:
            break
    served_s = time.perf_counter() - started
    served_rate = served / served_s
    print(f"served {served} lines in {served_s:.2f} s: {served_rate:,.0f} lines/s "
          f"(target >= 5,000: {'met' if served_rate >= 5000 else 'MISSED'})")


if __name__ == "__main__":
    main()
