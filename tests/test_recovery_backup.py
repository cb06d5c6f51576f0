"""Self-backups of the portal (issue 15) against the real PostgreSQL and an S3 server over
HTTP: take, verify, list, restore on a fresh database (in a subprocess, as on a new
machine), refusals (data present, damaged, truncated, wrong passphrase), drills, the kit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings as dj_settings

from envs.models import Environment
from envs.recovery import services
from envs.recovery.models import PortalDrill, SelfBackup
from portal.audit.models import AuditEvent
from portal.lib import pg
from portal.lib.s3 import sidecar_key
from portal.runs.engine import execute_run
from portal.runs.models import Run, RunLine
from tests.conftest import ROOT

ADMIN = os.environ.get("PORTAL_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET_VALUE = "s3cr3t-" + uuid.uuid4().hex
PHRASE = "correct horse " + uuid.uuid4().hex[:8]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def s3(s3, settings):
    """The shared backup bucket (tests/conftest.py), with a self-backup passphrase."""
    settings.SELF_BACKUP_PASSPHRASE = PHRASE
    return s3


@pytest.fixture
def filled(api):
    Environment.objects.create(name="dev", tier="dev")
    made = api.post("/api/envs/dev/secrets/", {"name": "API_KEY", "value": SECRET_VALUE},
                    format="json")
    assert made.status_code == 201, made.content
    return api


def backup_now() -> Run:
    run = services.start_backup(actor="test", enqueue=False)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", (run.error, list(run.lines.values_list("text", flat=True)))
    return run


class FreshDb:
    """An empty database on the same server, as on a new machine."""

    def __init__(self):
        self.name = f"portal_fresh_{uuid.uuid4().hex[:8]}"
        pg.create_database(ADMIN, self.name)
        self.url = f"postgres://postgres@127.0.0.1:5432/{self.name}"

    def counts(self) -> dict[str, int]:
        return {k.removeprefix("public."): v for k, v in
                pg.table_row_counts(pg.PgConn.parse(ADMIN).with_db(self.name)).items()}

    def drop(self):
        pg.drop_database(ADMIN, self.name)


@pytest.fixture
def fresh():
    db = FreshDb()
    yield db
    db.drop()


def manage(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def machine_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The kit's values on a new machine (its own data directory, no key files)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "AWS_"))}
    env.update({
        "DATABASE_URL": database_url, "PORTAL_DATA_DIR": str(data_dir),
        "PORTAL_ENCRYPTION_KEYS": ",".join(dj_settings.ENCRYPTION_KEYS),
        "PORTAL_SECRET_KEY": dj_settings.SECRET_KEY,
        "PORTAL_SELF_BACKUP_PASSPHRASE": PHRASE,
        "PORTAL_BACKUP_BUCKET": dj_settings.BACKUP_BUCKET,
        "PORTAL_S3_ENDPOINT_URL": dj_settings.S3_ENDPOINT_URL,
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test-secret",
        "CHECKPOINT_DISABLE": "1",
    })
    env.update(extra)
    return env


def test_backup_is_encrypted_verified_listed_and_leaks_nothing(s3, filled, read_api):
    run = backup_now()
    row = SelfBackup.objects.get()
    assert row.verified and row.key.startswith("portal/") and row.location == "bucket"
    assert row.counts["secrets_secret"] == 1 and row.counts["envs_environment"] == 1
    assert "recovery" in row.schema and row.schema["recovery"] == "0001_initial"
    data = s3.get_bytes(row.key)
    assert data[:8] == b"EAASENC1" and SECRET_VALUE.encode() not in data
    side = json.loads(s3.get_bytes(sidecar_key(row.key)))
    assert side["sha256"] == row.sha256 and PHRASE not in json.dumps(side)
    listed = read_api.get("/api/portal/backups/")
    assert listed.status_code == 200
    item = listed.json()["results"][0]
    assert item["verified"] and item["size"] == len(data) and item["counts"]["runs_run"] >= 1
    text = json.dumps(listed.json()) + json.dumps(run.result) + " ".join(
        RunLine.objects.values_list("text", flat=True))
    assert PHRASE not in text and SECRET_VALUE not in text
    assert AuditEvent.objects.filter(action="portal.self_backup").exists()


def test_api_starts_a_backup_and_a_read_token_may_not(s3, api, read_api):
    assert read_api.post("/api/portal/backups/").status_code == 403
    response = api.post("/api/portal/backups/")
    assert response.status_code == 201 and response.json()["kind"] == "portal_backup"
    again = api.post("/api/portal/backups/")
    assert again.status_code == 409 and again.json()["error"] == "locked"


def test_backup_wipe_restore_counts_equal_and_the_secret_decrypts(s3, filled, fresh, tmp_path):
    backup_now()
    expected = SelfBackup.objects.get().counts
    env = machine_env(fresh.url, tmp_path / "newvps")
    done = manage("portal_restore", "--latest", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "secrets_secret" in done.stdout and "Restored in" in done.stdout
    got = fresh.counts()
    for table, n in expected.items():
        if table not in ("runs_run", "runs_runline", "audit_auditevent", "django_migrations"):
            assert got[table] == n, table
    assert got["runs_run"] >= expected["runs_run"]
    shown = manage("shell", "-c", "from envs.secrets.models import Secret; "
                   "print(Secret.objects.get(name='API_KEY').value)", env=env)
    assert shown.stdout.strip().splitlines()[-1] == SECRET_VALUE, shown.stderr
    # a second restore into the now-full database is refused without --force
    again = manage("portal_restore", "--latest", env=env)
    assert again.returncode == 2 and "already holds data" in again.stderr
    forced = manage("portal_restore", "--latest", "--force", env=env)
    assert forced.returncode == 0, forced.stderr


@pytest.mark.parametrize("damage", ["corrupt", "truncate", "passphrase"])
def test_damaged_truncated_or_wrong_passphrase_is_refused_before_anything_is_written(
        s3, s3srv, filled, fresh, tmp_path, damage):
    backup_now()
    key = SelfBackup.objects.get().key
    extra = {}
    if damage == "corrupt":
        s3srv.corrupt_get(key, times=None)
    elif damage == "truncate":
        s3.put_bytes(key, s3.get_bytes(key)[:-5000])
    else:
        extra["PORTAL_SELF_BACKUP_PASSPHRASE"] = "not the passphrase"
    done = manage("portal_restore", "--key", key, env=machine_env(fresh.url, tmp_path / "n",
                                                                  **extra))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "refused, nothing was changed" in done.stderr
    if damage == "passphrase":
        assert "wrong passphrase" in done.stderr
    else:
        assert "damaged or truncated" in done.stderr
    assert fresh.counts() == {}


def test_drill_passes_and_the_dashboard_says_so(s3, filled, signed_in):
    backup_now()
    run = services.start_drill(actor="test", enqueue=False)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    drill = PortalDrill.objects.get()
    assert drill.passed and "equal the manifest" in drill.detail
    with psycopg.connect(ADMIN) as c:
        left = c.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                         ("%_drill_%",)).fetchall()
    assert left == []
    page = signed_in.get("/").content.decode()
    assert "portal restorable, proven 0 days ago" in page


def test_failed_drill_is_a_drill_failed_event(s3, filled):
    from envs.notifications.models import Channel, Notification

    Channel.objects.create(name="ops", url="json://127.0.0.1:9/hook", events=["*"])
    run = services.start_drill(actor="test", enqueue=False)  # no backup yet: it fails
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and "no self-backup" in run.error
    assert Notification.objects.filter(event="drill.failed", run=run).exists()
