"""The portal's own overhead per deploy, against the Kubernetes test server with a real
worker process on the embedded default (SQLite + the django-q2 ORM broker):

  A: from the API's 201 to the image patch reaching the API server (server request log)
  B: from the controller reporting the rollout complete to the run's end (finished_at)

    .venv/bin/python bench/deploys.py [--deploys 20]

Target: each <= 300 ms p95. Uses a throw-away data directory; touches nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deploys", type=int, default=20)
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="portal-bench-deploys-")
    for name in ("DATABASE_URL", "REDIS_URL", "PORTAL_ENCRYPTION_KEYS", "PORTAL_SECRET_KEY"):
        os.environ.pop(name, None)
    os.environ.update(PORTAL_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="portal.settings",
                      PORTAL_WORKERS="2")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment
    from rest_framework.test import APIClient

    from envs.deploys.models import Target
    from envs.models import Environment
    from portal.auth.models import ApiToken, owner_user
    from portal.runs.models import Run, RunLine
    from tests.fakes.kubeserver import KubeTestServer, deployment

    setup_test_environment()  # lets the in-process API client talk to the app
    call_command("migrate", verbosity=0)
    srv = KubeTestServer().start()
    srv.store.apply("namespaces", {"metadata": {"name": "bench"}})
    srv.store.apply("deployments", deployment("shop", "registry.local/shop:0",
                                              namespace="bench", replicas=2))
    completed: dict[str, float] = {}
    lock = threading.Lock()

    def on_event(kind: str, plural: str, obj: dict) -> None:
        # the controller's status write that makes the rollout complete, by image
        if plural != "deployments" or kind != "MODIFIED":
            return
        spec, status = obj["spec"], obj.get("status") or {}
        image = spec["template"]["spec"]["containers"][0]["image"]
        want = spec.get("replicas", 1)
        done = (status.get("observedGeneration") == obj["metadata"].get("generation")
                and status.get("updatedReplicas") == want == status.get("replicas")
                and status.get("availableReplicas") == want)
        with lock:
            if done and image not in completed:
                completed[image] = time.time()

    srv.store.subscribe(on_event)
    env = Environment.objects.create(name="dev", tier="dev", kubeconfig=srv.kubeconfig())
    Target.objects.create(environment=env, component="component:default/shop",
                          namespace="bench", deployment="shop", container="shop",
                          explicit=True)
    _token, plaintext = ApiToken.issue(owner_user(), "bench", "write")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")

    log = open(Path(data_dir) / "worker.log", "w")  # noqa: SIM115
    worker = subprocess.Popen([sys.executable, "manage.py", "run_worker"], cwd=ROOT,
                              env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    to_patch, to_end, totals, seen, recorded = [], [], [], [], []
    try:
        for i in range(args.deploys + 2):  # the first two warm the worker up
            image = f"registry.local/shop:{i + 1}"
            response = api.post("/api/envs/dev/deploys/", {"component": "shop",
                                                          "image": image}, format="json")
            t201 = time.time()
            if response.status_code != 201:
                raise SystemExit(f"deploy refused: {response.content.decode()}")
            run_id = response.json()["id"]
            deadline = time.monotonic() + 60
            while True:
                run = Run.objects.get(pk=run_id)
                if run.status not in ("queued", "running"):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"run {run_id} did not end; see {log.name}")
                time.sleep(0.05)
            if run.status != "succeeded":
                raise SystemExit(f"run {run_id} {run.status}: {run.error}")
            patch = next(r for r in srv.requests_matching("PATCH", "/deployments/shop")
                         if image in json.dumps(r.body))
            if i < 2:
                continue
            to_patch.append(patch.time - t201)
            to_end.append(run.finished_at.timestamp() - completed[image])
            totals.append(run.finished_at.timestamp() - t201)
            lines = dict(RunLine.objects.filter(run_id=run_id).values_list("text", "ts"))
            saw = next(ts for text, ts in lines.items() if text.endswith("rollout complete"))
            rec = next(ts for text, ts in lines.items() if text.startswith("Release #"))
            seen.append(saw.timestamp() - completed[image])
            recorded.append(rec.timestamp() - saw.timestamp())
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(5)
        srv.stop()
        log.close()

    def row(name: str, values: list[float]) -> str:
        return (f"{name:<44} p50 {statistics.median(values) * 1000:7.1f} ms   "
                f"p95 {pct(values, 95) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms")

    print(f"{len(to_patch)} deploys, 2 replicas, controller completes at once "
          "(embedded default: SQLite + ORM broker, poll 0.2 s)")
    print(row("A: API 201 -> image patch at the API server", to_patch))
    print(row("B: rollout complete -> run finished", to_end))
    print(row("   of B: complete -> the run's watch sees it", seen))
    print(row("   of B: seen -> release recorded", recorded))
    print(row("   (whole deploy: 201 -> run finished)", totals))
    ok = pct(to_patch, 95) <= 0.3 and pct(to_end, 95) <= 0.3
    print("target <= 300 ms p95 each:", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
