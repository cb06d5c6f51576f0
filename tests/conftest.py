"""Shared fixtures: the owner, API clients with tokens, and a real run worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def owner(db):
    from portal.auth.models import owner_user

    return owner_user()


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


def _token_client(owner, scope):
    from rest_framework.test import APIClient

    from portal.auth.models import ApiToken

    _token, plaintext = ApiToken.issue(owner, f"test-{scope}", scope)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    api.token = plaintext
    return api


@pytest.fixture
def api(owner):
    return _token_client(owner, "write")


@pytest.fixture
def read_api(owner):
    return _token_client(owner, "read")


def wait_for(predicate, timeout=10.0, interval=0.05, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def database_url_for_subprocess() -> str:
    """The URL of the database the tests use right now (the test database)."""
    cfg = connection.settings_dict
    if cfg["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(cfg['NAME']).resolve()}"
    auth = cfg["USER"] + (f":{cfg['PASSWORD']}" if cfg["PASSWORD"] else "")
    return f"postgres://{auth}@{cfg['HOST'] or '127.0.0.1'}:{cfg['PORT'] or 5432}/{cfg['NAME']}"


class WorkerProcess:
    """`manage.py run_worker` in its own process group, against the test database."""

    def __init__(self, extra_env: dict | None = None):
        from django.conf import settings

        env = dict(os.environ)
        env["DATABASE_URL"] = database_url_for_subprocess()
        env["PORTAL_ENCRYPTION_KEYS"] = ",".join(settings.ENCRYPTION_KEYS)
        env["PORTAL_SECRET_KEY"] = settings.SECRET_KEY
        env["PORTAL_DATA_DIR"] = str(settings.DATA_DIR)
        env.pop("REDIS_URL", None)
        env.update(extra_env or {})
        self.log_path = Path(settings.DATA_DIR) / f"worker-{time.time_ns()}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the worker exited early:\n{self.log_path.read_text()[-3000:]}")
        return True

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=20)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def worker(transactional_db):
    proc = WorkerProcess()
    yield proc
    proc.stop()


@pytest.fixture
def start_worker(transactional_db):
    started = []

    def _start(**env):
        proc = WorkerProcess(env)
        started.append(proc)
        return proc

    yield _start
    for proc in started:
        proc.stop()
