"""Notification figures on the embedded default (SQLite + django-q2 ORM broker, poll 0.2 s).

    .venv/bin/python bench/notify.py [--runs 20] [--burst 1000]

1. Latency: a real run fails in a real worker process (a backup whose source is gone) ->
   its message arrives at a local json:// receiver. p50/p95 from the run's end (the commit
   of its failed status) to the receiver's arrival. Target: p95 <= 2 s. The channel's
   per-minute limit is raised to 60 for this phase so each run gets its own message.
2. Burst: 1,000 failed runs in a row (status changes written as fast as the bench can),
   the default limit of 3 messages per channel per minute: every delivery accounted for
   (sent, in how many messages, the largest digest) and how long until the last one.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/ itself is not a package root: a script there must never shadow a library.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


class Worker:
    def __init__(self, **extra: str) -> None:
        env = dict(os.environ, PORTAL_NOTIFY_ALLOW_PRIVATE="1", **extra)
        self.proc = subprocess.Popen([sys.executable, "manage.py", "run_worker"], cwd=ROOT,
                                     env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(3)  # cluster start-up

    def stop(self) -> None:
        self.proc.terminate()  # the cluster stops its own workers
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--burst", type=int, default=1000)
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="portal-bench-notify-")
    for name in ("DATABASE_URL", "REDIS_URL", "PORTAL_ENCRYPTION_KEYS", "PORTAL_SECRET_KEY"):
        os.environ.pop(name, None)
    os.environ.update(PORTAL_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="config.settings",
                      PORTAL_NOTIFY_ALLOW_PRIVATE="1")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db.models import Count
    from django.utils import timezone

    from envs.models import Environment
    from envs.notifications.models import Delivery, DeliveryStatus, Notification
    from envs.notifications.services import create_channel
    from portal.runs.choices import Status
    from portal.runs.models import Run
    from tests.fakes.receivers import JsonReceiver

    call_command("migrate", verbosity=0)
    print(f"embedded default in {data_dir} (SQLite, ORM broker, poll 0.2 s)")
    Environment.objects.create(name="bench", tier="dev")
    receiver = JsonReceiver().start()
    first = create_channel({"name": "bench", "url": receiver.url(password="bench-secret")})

    # --- 1. latency: failed run -> message at the receiver ---------------------------
    worker = Worker(PORTAL_NOTIFY_MAX_PER_MINUTE="60")
    latencies = []
    try:
        for i in range(args.runs):
            run = Run.start("backup", target="env:bench", params={"source": 10**9 + i,
                                                                  "name": "db"})
            assert run is not None
            receiver.wait_for(i + 1, timeout=30)
            arrived = receiver.messages[i]["_wall"]
            run.refresh_from_db()
            assert run.status == Status.FAILED and run.finished_at is not None
            latencies.append(arrived - run.finished_at.timestamp())
    finally:
        worker.stop()
    ms = [value * 1000 for value in latencies]
    print(f"failed run -> message ({args.runs} runs): p50 {percentile(ms, .5):.0f} ms, "
          f"p95 {percentile(ms, .95):.0f} ms, max {max(ms):.0f} ms "
          f"(target p95 <= 2000 ms) {'OK' if percentile(ms, .95) <= 2000 else 'MISSED'}")

    # --- 2. a burst of failures: everything accounted for, grouped -------------------
    # A fresh channel: the first one's minute is full of phase 1's messages.
    receiver.close()
    first.enabled = False
    first.save(update_fields=["enabled"])
    receiver = JsonReceiver().start()
    create_channel({"name": "burst", "url": receiver.url(password="bench-secret")})
    before = 0
    worker = Worker()  # default: 3 messages per channel per minute
    try:
        started = time.monotonic()
        for _ in range(args.burst):
            run = Run.objects.create(kind="selfcheck", target="env:bench",
                                     status=Status.RUNNING, started_at=timezone.now())
            run.transition(Status.RUNNING, Status.FAILED, error="bench: disk full",
                           finished_at=timezone.now())
        written = time.monotonic() - started
        print(f"burst: {args.burst} failed runs written in {written:.1f} s "
              f"({args.burst / written:.0f}/s, each with its notification and delivery)")
        open_states = [DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.RETRYING]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if not Delivery.objects.filter(status__in=open_states,
                                           notification__event="run.failed",
                                           notification__body__contains="disk full").exists():
                break
            time.sleep(0.5)
        done = time.monotonic() - started
    finally:
        worker.stop()
        receiver.close()
    first_at = min(m["_wall"] for m in receiver.messages) if receiver.messages else 0.0
    burst = Delivery.objects.filter(notification__body__contains="disk full")
    by_status = dict(burst.values_list("status").annotate(n=Count("id")))
    batches = list(burst.filter(status=DeliveryStatus.SENT).values("batch").annotate(
        n=Count("id")).values_list("n", flat=True))
    messages = receiver.messages[before:]
    counted = 0
    for message in messages:
        found = re.match(r"(\d+) portal events", message.get("title", ""))
        counted += int(found.group(1)) if found else 1
    notifications = Notification.objects.filter(body__contains="disk full").count()
    print(f"burst: {notifications} notifications, {burst.count()} deliveries {by_status}, "
          f"in {len(messages)} messages (largest digest {max(batches or [0])}, "
          f"digests account for {counted}); all done {done:.1f} s after the first")
    for message in messages:
        print(f"  +{message['_wall'] - first_at:5.1f} s  {message.get('title', '')[:90]}")
    ok = by_status.get("sent") == args.burst and counted == args.burst and len(messages) <= 6
    print("burst: every delivery accounted for, a handful of messages:",
          "OK" if ok else "MISSED")
    if statistics.median(ms) < 0:
        print("clock skew: latency figures are not meaningful")


if __name__ == "__main__":
    main()
