"""An upgrade that cannot lose data: the previous released version (1578b14, the commit
before issue 12's first, in a temporary worktree, old layout `portal.settings`) builds and
fills a PostgreSQL database through its own commands and API; then the current code starts
on it (`scripts/portal prepare`: pre-migrate self-backup, migrate) and everything is there:
row counts, the secret decrypts, the catalog reads, the portal checks clean."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from portal.lib import pg
from tests.conftest import ROOT

PREVIOUS = "1578b14"
ADMIN = os.environ.get("PORTAL_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
KEY = "cG9ydGFsLXRlc3Qta2V5LW5vdC1mb3ItcHJvZC11c2U="
VALUE = "upgrade-secret-" + uuid.uuid4().hex

FILL_THROUGH_THE_API = f"""
from django.test import Client
from portal.auth.models import ApiToken, owner_user
_t, token = ApiToken.issue(owner_user(), "upgrade", "write")
c = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION="Bearer " + token)
r = c.post("/api/envs/local/secrets/", {{"name": "API_KEY", "value": "{VALUE}"}},
           content_type="application/json")
assert r.status_code == 201, r.content
r = c.post("/api/runs/", {{"kind": "selfcheck"}}, content_type="application/json")
print("secret", r.status_code)
"""


@pytest.fixture
def previous(tmp_path):
    where = tmp_path / "previous"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where),
                    PREVIOUS], check=True, capture_output=True)
    yield where
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)],
                   check=False, capture_output=True)


@pytest.fixture
def database():
    name = f"portal_upgrade_{uuid.uuid4().hex[:8]}"
    pg.create_database(ADMIN, name)
    yield name
    pg.drop_database(ADMIN, name)


def run(cwd: Path, env: dict[str, str], *argv: str) -> str:
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, f"{argv}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def counts(name: str) -> dict[str, int]:
    return {k.removeprefix("public."): v for k, v in
            pg.table_row_counts(pg.PgConn.parse(ADMIN).with_db(name)).items()}


def test_upgrade_from_the_previous_version_keeps_every_row(previous, database, tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PORTAL_", "AWS_", "DJANGO_")) and k != "DATABASE_URL"}
    env.update({"DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
                "PORTAL_ENCRYPTION_KEYS": KEY, "PORTAL_SECRET_KEY": "upgrade-" + "s" * 50,
                "PORTAL_DATA_DIR": str(tmp_path / "data"), "CHECKPOINT_DISABLE": "1",
                "PORTAL_SELF_BACKUP_PASSPHRASE": "upgrade passphrase"})
    py = sys.executable
    # the previous version, its own commands and API
    run(previous, env, py, "manage.py", "migrate", "-v0")
    run(previous, env, py, "manage.py", "envs_sync")
    run(previous, env, py, "manage.py", "demo_defaults")
    run(previous, env, py, "manage.py", "catalog_import", "examples/app-repo")
    run(previous, env, py, "manage.py", "shell", "-c", FILL_THROUGH_THE_API)
    before = counts(database)
    assert before["catalog_entity"] > 0 and before["secrets_secret"] == 1
    # the current code starts on it: pre-migrate self-backup, then migrate
    out = run(ROOT, {**env, "PORTAL_PYTHON": py}, "scripts/portal", "prepare")
    assert "pre-migrate backup" in out and "stored and verified" in out, out
    after = counts(database)
    moving = {"django_migrations", "django_content_type", "auth_permission",
              "audit_auditevent", "runs_run", "runs_runline", "django_q_schedule"}
    lost = {t: (n, after.get(t)) for t, n in before.items()
            if t not in moving and after.get(t, -1) != n}
    # envs_sync (part of prepare) registers the environments the new version adds
    assert after["envs_environment"] >= lost.pop("envs_environment", (0,))[0]
    assert lost == {}, lost
    assert after["recovery_selfbackup"] == 1  # the pre-migrate backup, recorded after migrate
    shown = run(ROOT, env, py, "manage.py", "shell", "-c",
                "from envs.secrets.models import Secret; from catalog.models import Entity; "
                "print(Secret.objects.get(name='API_KEY').value, Entity.objects.count())")
    value, entities = shown.strip().splitlines()[-1].split()
    assert value == VALUE and int(entities) == before["catalog_entity"]
    run(ROOT, env, py, "manage.py", "check")
    # and what the backup holds restores with the current code (a drill of it)
    drill = run(ROOT, env, py, "manage.py", "portal_drill")
    assert "portal drill passed" in drill
