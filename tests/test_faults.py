"""Fault drills: the database cut for a few seconds, S3 and the Kubernetes API answering 500s
or hanging, Terraform failing mid-apply. In each the portal stays up, the run ends with a
clear reason, its lock is released and nothing already stored is lost.

(A worker killed mid-run is drilled in tests/test_worker.py.)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from envs.models import Environment
from portal.runs.choices import ACTIVE, TERMINAL, Status
from portal.runs.models import Lock, Run, RunLine
from tests.conftest import ROOT, database_url_for_subprocess, wait_for
from tests.fakes.tcpproxy import TcpProxy


def log_of(run) -> str:
    return "\n".join(RunLine.objects.filter(run=run).order_by("seq")
                     .values_list("text", flat=True))


def fresh(run) -> Run:
    return Run.objects.get(pk=run.pk)


# --- the database unreachable ---------------------------------------------------------------


@pytest.fixture
def pg_proxy(transactional_db):
    cfg = connection.settings_dict
    with TcpProxy(cfg["HOST"] or "127.0.0.1", int(cfg["PORT"] or 5432)) as proxy:
        parts = urlsplit(database_url_for_subprocess())
        userinfo = parts.netloc.rsplit("@", 1)[0]
        proxy.url = urlunsplit(parts._replace(netloc=f"{userinfo}@127.0.0.1:{proxy.port}"))
        yield proxy


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def web_through(pg_proxy):
    """``manage.py runserver`` whose database connection goes through the proxy."""
    from django.conf import settings

    port = _free_port()
    env = dict(os.environ, DATABASE_URL=pg_proxy.url, PORTAL_DATA_DIR=str(settings.DATA_DIR),
               PORTAL_ENCRYPTION_KEYS=",".join(settings.ENCRYPTION_KEYS),
               PORTAL_SECRET_KEY=settings.SECRET_KEY, PORTAL_ALLOWED_HOSTS="127.0.0.1")
    env.pop("REDIS_URL", None)
    log = open(settings.DATA_DIR / f"web-{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "manage.py", "runserver", "--noreload",
                             f"127.0.0.1:{port}"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _status(base + "/healthz") == 200, 30, 0.2, "runserver to answer")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local http
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def test_a_database_cut_ends_the_run_frees_its_lock_and_the_worker_goes_on(
        pg_proxy, web_through, start_worker):
    Environment.objects.create(name="dev", tier="dev")
    start_worker(DATABASE_URL=pg_proxy.url, PORTAL_SELFCHECK_SECONDS="6")
    run = Run.start("selfcheck", target="env:dev", lock_key="env:dev", actor="faults")
    wait_for(lambda: fresh(run).line_count >= 2, 20, message="the selfcheck to log")
    assert Lock.objects.filter(key="env:dev", run=run).exists()

    pg_proxy.pause()
    try:
        time.sleep(0.5)
        assert _status(web_through + "/healthz") == 503  # the portal answers, and says why
        time.sleep(2.5)
    finally:
        pg_proxy.resume()
    assert _status(web_through + "/healthz") == 200

    ended = wait_for(lambda: (r := fresh(run)).status in TERMINAL and r, 45,
                     message="the cut run to end")
    assert ended.status in (Status.SUCCEEDED, Status.FAILED), ended.status
    if ended.status == Status.FAILED:
        assert ended.error, "a failed run names its reason"
    assert not Lock.objects.filter(key="env:dev").exists()

    again = Run.start("selfcheck", target="env:dev", lock_key="env:dev", actor="faults")
    done = wait_for(lambda: (r := fresh(again)).status not in ACTIVE and r, 45,
                    message="a second run after the cut")
    assert done.status == Status.SUCCEEDED, (done.error, log_of(done))
    assert not Lock.objects.exists()
    # Every line logged during the cut was kept (the flush retries, it never drops them).
    seqs = list(RunLine.objects.filter(run=ended).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) == ended.line_count
    if ended.status == Status.SUCCEEDED:
        assert "all checks passed" in log_of(ended)


# --- S3 answering 500 or hanging during a backup --------------------------------------------


@pytest.fixture(scope="module")
def s3srv():
    from tests.fakes.s3server import S3TestServer

    with S3TestServer() as srv:
        yield srv


@pytest.fixture
def backup_source(transactional_db, settings, s3srv):
    """A small database of its own, registered as a backup source, with the bucket on the
    test S3 server (through its fault proxy)."""
    import uuid

    import psycopg
    from psycopg import sql

    from envs.backups import bucket
    from envs.backups.models import BackupSource

    s3srv.reset()
    settings.BACKUP_BUCKET = "portal-backups"
    settings.S3_ENDPOINT_URL = s3srv.endpoint_url
    settings.AWS_ACCESS_KEY_ID, settings.AWS_SECRET_ACCESS_KEY = "test", "test-secret"
    settings.AWS_DEFAULT_REGION = "us-east-1"
    settings.S3_READ_TIMEOUT = 1
    bucket.store().ensure_bucket()
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    name = f"faults_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", autocommit=True) as c:
        c.execute("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v "
                  "FROM generate_series(1, 2000) g")
    env = Environment.objects.create(name="stage", tier="dev")
    source = BackupSource.objects.create(
        environment=env, name="main-db",
        database_url=f"postgresql://postgres@127.0.0.1:5432/{name}")
    yield source
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def _backup(source) -> Run:
    from envs.backups.services import start_backup
    from portal.runs.engine import execute_run

    run = start_backup(source)
    execute_run(run.pk)
    return fresh(run)


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_s3_failing_mid_backup_fails_the_run_and_keeps_earlier_backups(
        backup_source, s3srv, fault):
    from envs.backups import bucket
    from envs.backups.models import Backup

    earlier = _backup(backup_source)
    assert earlier.status == Status.SUCCEEDED, earlier.error
    kept = Backup.objects.get()
    store = bucket.store()
    kept_bytes = store.get_bytes(kept.key)

    if fault == "500":
        s3srv.fail_upload_part(status=500, times=None)
    else:
        s3srv.delay_upload_part(3.0, times=None)  # longer than PORTAL_S3_READ_TIMEOUT
    started = time.monotonic()
    run = _backup(backup_source)
    s3srv.clear_faults()

    assert run.status == Status.FAILED
    reason = {"500": "InternalError", "timeout": "timeout"}[fault]
    assert reason.lower() in run.error.lower() and "upload" in run.error, run.error
    assert "aborted" in run.error, run.error
    assert time.monotonic() - started < 30
    assert not Lock.objects.exists()
    # Nothing already stored was lost: the earlier backup, its row and its object.
    assert list(Backup.objects.values_list("pk", flat=True)) == [kept.pk]
    assert store.get_bytes(kept.key) == kept_bytes
    assert store.list_uploads() == []
    # And the next backup, with S3 healthy again, works.
    assert _backup(backup_source).status == Status.SUCCEEDED


# --- the Kubernetes API answering 500s or hanging during a deploy ---------------------------


@pytest.fixture
def kube(transactional_db, api):
    from tests.fakes.kubeserver import KubeTestServer, deployment

    with KubeTestServer() as srv:
        srv.store.apply("namespaces", {"metadata": {"name": "dev"}})
        srv.store.apply("deployments", deployment(
            "shop", namespace="dev", replicas=1,
            containers=[{"name": "app", "image": "ghcr.io/acme/shop:1"}]))
        Environment.objects.create(name="dev", tier="dev")
        assert api.put("/api/envs/dev/cluster/", {"kubeconfig": srv.kubeconfig()},
                       format="json").status_code == 200
        assert api.post("/api/envs/dev/targets/", {"component": "shop", "deployment": "shop",
                                                   "container": "app"},
                        format="json").status_code == 201
        yield srv


def _deploy(api, image: str) -> Run:
    from portal.runs.engine import execute_run

    response = api.post("/api/envs/dev/deploys/", {"component": "shop", "image": image},
                        format="json")
    assert response.status_code == 201, response.content
    execute_run(response.json()["id"])
    return Run.objects.get(pk=response.json()["id"])


def _image(kube) -> str:
    dep = kube.store.get("deployments", "dev", "shop")
    return dep["spec"]["template"]["spec"]["containers"][0]["image"]


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_kubernetes_failing_during_a_deploy_fails_the_run_and_keeps_releases(
        api, kube, settings, fault):
    from envs.deploys.models import Release

    settings.KUBE_REQUEST_TIMEOUT = 1
    first = _deploy(api, "ghcr.io/acme/shop:2")
    assert first.status == Status.SUCCEEDED, (first.error, log_of(first))
    releases = list(Release.objects.values_list("pk", "image"))

    if fault == "500":
        kube.fail_next(count=50, status=500)
    else:
        kube.hang_next(3.0, count=50)
    started = time.monotonic()
    run = _deploy(api, "ghcr.io/acme/shop:3")
    kube.clear_faults()

    assert run.status == Status.FAILED
    assert kube.url in run.error or "dev" in run.error, run.error
    why = {"500": ("server error", "500", "internal"), "timeout": ("in time", "timed out")}
    assert any(w in run.error.lower() for w in why[fault]), run.error
    assert time.monotonic() - started < 60
    assert not Lock.objects.exists()
    assert list(Release.objects.values_list("pk", "image")) == releases
    assert _image(kube) == "ghcr.io/acme/shop:2"
    # The cluster is healthy again: the next deploy goes through.
    assert _deploy(api, "ghcr.io/acme/shop:3").status == Status.SUCCEEDED


# --- Terraform failing mid-apply ------------------------------------------------------------

FAILING_STACK = """
terraform {
  required_version = ">= 1.5"
}

resource "terraform_data" "first" {
  input = "created before the failure"
}

resource "terraform_data" "second" {
  depends_on = [terraform_data.first]
  input      = "never created"
  provisioner "local-exec" {
    command = "echo provisioning second >&2; exit 1"
  }
}
"""


def test_terraform_failing_mid_apply_keeps_the_state_of_what_was_created(
        transactional_db, api, settings, tmp_path):
    from envs.provisioning.models import StateSnapshot
    from portal.runs.engine import execute_run

    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "main.tf").write_text(FAILING_STACK)
    settings.CATALOG_LOCAL_ROOTS = [tmp_path.resolve()]
    Environment.objects.create(name="local", tier="local", tf_directory=str(stack))

    response = api.post("/api/envs/local/plan/", format="json")
    assert response.status_code == 201, response.content
    execute_run(response.json()["id"])
    planned = Run.objects.get(pk=response.json()["id"])
    assert planned.status == Status.PLANNED, (planned.error, log_of(planned))
    response = api.post(f"/api/runs/{planned.pk}/approve/", {}, format="json")
    assert response.status_code == 201, response.content
    execute_run(response.json()["id"])
    apply = Run.objects.get(pk=response.json()["id"])

    assert apply.status == Status.FAILED
    text = apply.error + "\n" + log_of(apply)
    assert "local-exec provisioner error" in text or "exit status 1" in text, text[-3000:]
    assert not Lock.objects.exists()
    snapshot = StateSnapshot.objects.get(environment__name="local")
    addresses = json.dumps(snapshot.resources)
    assert "terraform_data.first" in addresses, snapshot.resources
    assert snapshot.local_state, "the state with the created resource is kept (encrypted)"
    # A new plan starts from that state: only the failed resource is left to create.
    response = api.post("/api/envs/local/plan/", format="json")
    execute_run(response.json()["id"])
    replan = Run.objects.get(pk=response.json()["id"])
    assert replan.status == Status.PLANNED, (replan.error, log_of(replan))
    assert "1 to add" in log_of(replan), log_of(replan)[-2000:]
