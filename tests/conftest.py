"""Shared fixtures: the owner, API clients with tokens, and a real run worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
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


def run_in_thread(run_id: int) -> threading.Thread:
    """``execute_run(run_id)`` as the worker does it, in a started thread that closes its own
    database connection: for tests that act (cancel, reap, fault) while the run is going."""
    from portal.runs.engine import execute_run

    def work():
        try:
            execute_run(run_id)
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


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
        # SIGTERM to the cluster's main process only: it stops its workers in order (a
        # signal to the whole group makes django-q2 hang). Then clear any leftovers.
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)
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


# --- browser (Playwright driving Debian's chromium) --------------------------------------
CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--disable-dev-shm-usage"]


def screenshot_dir() -> Path:
    out = Path(os.environ.get("PORTAL_TEST_OUTPUT", ROOT / "test-output")) / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


_BROWSER: list = []  # the process's one browser: Playwright's sync API starts only once


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    if _BROWSER:  # re-exported by catalog/tests/conftest.py: the browser already running
        yield _BROWSER[0]
        return
    if not Path(CHROMIUM).exists():
        raise AssertionError(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install "
                             "chromium) or point PORTAL_CHROMIUM at a Chromium binary")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        _BROWSER.append(browser)
        yield browser
        _BROWSER.clear()
        browser.close()


@pytest.fixture
def page(chromium, live_server):
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15000)
    page.base = live_server.url
    yield page
    context.close()


@pytest.fixture
def signed_in_page(page, owner):
    """A browser page signed in as the owner through a one-time sign-in link."""
    from portal.auth.models import SigninLink

    token = SigninLink.issue(owner)
    page.goto(f"{page.base}/signin/link/{token}/")
    page.click("#confirm-signin")
    page.wait_for_url(f"{page.base}/")
    return page


def shot(page, name: str) -> Path:
    path = screenshot_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# --- the backup bucket on the S3 test server (backups and recovery tests) ------------------
@pytest.fixture(scope="module")
def s3srv():
    """One S3 test server (tests/fakes/s3server.py, behind its fault proxy) per module."""
    from tests.fakes.s3server import S3TestServer  # a test server: only the tests that use it

    with S3TestServer() as srv:
        yield srv


@pytest.fixture
def s3(settings, s3srv):
    """The portal's backup bucket (PORTAL_BACKUP_BUCKET) on the S3 test server, emptied of
    objects and faults; returns the store the portal itself uses."""
    from envs.backups import bucket  # boto3 loads only for the tests that use a bucket

    s3srv.reset()
    settings.BACKUP_BUCKET = "portal-backups"
    settings.S3_ENDPOINT_URL = s3srv.endpoint_url
    settings.AWS_ACCESS_KEY_ID = "test"
    settings.AWS_SECRET_ACCESS_KEY = "test-secret"
    settings.AWS_DEFAULT_REGION = "us-east-1"
    store = bucket.store()
    store.ensure_bucket()
    return store
