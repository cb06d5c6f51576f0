"""The embedded default (SQLite): the online backup API while a writer commits, and the
whole cycle in separate processes as on two machines: back up -> new data dir -> restore
-> counts and a secret; the pre-migrate backup of scripts/portal and --skip-backup."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from envs.recovery.snapshot import backup_sqlite, sqlite_counts
from tests.conftest import ROOT

KEY = "cG9ydGFsLXRlc3Qta2V5LW5vdC1mb3ItcHJvZC11c2U="
PHRASE = "sqlite-drill-passphrase-0123"


def test_online_backup_while_a_writer_commits_is_consistent(tmp_path):
    live = tmp_path / "live.sqlite3"
    with sqlite3.connect(live) as c:
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("CREATE TABLE runs_runline (id INTEGER PRIMARY KEY, batch INT, text TEXT)")
    stop, batches = threading.Event(), [0]

    def writer():
        conn = sqlite3.connect(live, timeout=30)
        while not stop.is_set():
            with conn:  # one transaction of 200 rows
                conn.executemany("INSERT INTO runs_runline (batch, text) VALUES (?, ?)",
                                 [(batches[0], "line " * 20)] * 200)
            batches[0] += 1
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while batches[0] < 20:
            pass
        copies = []
        for n in range(3):
            copy = tmp_path / f"copy{n}.sqlite3"
            backup_sqlite(live, copy)
            copies.append(copy)
    finally:
        stop.set()
        thread.join()
    for copy in copies:
        with sqlite3.connect(copy) as c:
            assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        counts, _ = sqlite_counts(copy)
        assert counts["runs_runline"] % 200 == 0 and counts["runs_runline"] > 0  # whole commits
    assert batches[0] > 20


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PORTAL_", "AWS_")) and k != "DATABASE_URL"}
    env.update({"PORTAL_DATA_DIR": str(data_dir), "PORTAL_ENCRYPTION_KEYS": KEY,
                "PORTAL_SECRET_KEY": "sqlite-test-secret-key-" + "x" * 40,
                "PORTAL_SELF_BACKUP_PASSPHRASE": PHRASE, "CHECKPOINT_DISABLE": "1"})
    env.update(extra)
    return env


def _manage(env, *args, check=True):
    proc = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


FILL = """
from envs.models import Environment
from envs.secrets.models import Secret
from portal.runs.models import Run, RunLine
from django.utils.timezone import now
env = Environment.objects.create(name="sqlite-app", tier="dev")
Secret.objects.create(environment=env, name="API_KEY", value="the-sqlite-secret", version=1)
for i in range(30):
    run = Run.objects.create(kind="selfcheck", target="portal", actor="t", status="succeeded")
    RunLine.objects.bulk_create([RunLine(run=run, seq=n, ts=now(), text=f"line {n}")
                                 for n in range(50)])
"""


PLAN_LOCAL = """
from envs.models import Environment
from envs.provisioning import services
from portal.runs.engine import execute_run
run = services.start_plan(Environment.objects.get(name="local"), None)
execute_run(run.pk)
run.refresh_from_db()
print("PLAN", run.status, run.error[:500])
"""


def test_sqlite_portal_backup_restore_on_a_new_data_dir_and_pre_migrate(tmp_path):
    old, new = tmp_path / "old-vps", tmp_path / "new-vps"
    env = _env(old)
    _manage(env, "migrate", "-v0")
    _manage(env, "envs_sync")
    _manage(env, "demo_defaults")  # local's encrypted secret variable
    _manage(env, "shell", "-c", FILL)
    done = _manage(env, "portal_backup")
    assert "verified" in done.stdout
    backups = list((old / "self-backups").glob("*.tar.zst.enc"))
    assert len(backups) == 1
    drill = _manage(env, "portal_drill")
    assert "portal drill passed" in drill.stdout
    # the new machine: its own data dir, the self-backups copied over, the kit's values
    shutil.copytree(old / "self-backups", tmp_path / "carried")
    new_env = _env(new)
    restored = _manage(new_env, "portal_restore", "--latest", "--dir", str(tmp_path / "carried"))
    assert "runs_runline" in restored.stdout and "Restored in" in restored.stdout
    shown = _manage(new_env, "shell", "-c", "from envs.secrets.models import Secret; "
                    "from portal.runs.models import RunLine; "
                    "print(Secret.objects.get().value, RunLine.objects.count())")
    value, lines = shown.stdout.strip().splitlines()[-1].split()
    assert value == "the-sqlite-secret" and int(lines) >= 1500
    # and a plan of `local` (its encrypted variables, the restored state) still works
    plan = _manage(new_env, "shell", "-c", PLAN_LOCAL)
    assert plan.stdout.strip().splitlines()[-1].startswith("PLAN planned"), plan.stdout
    # a wrong passphrase is a clear error, and nothing is touched
    before = (new / "portal.sqlite3").read_bytes()
    wrong = _manage(_env(new, PORTAL_SELF_BACKUP_PASSPHRASE="nope"), "portal_restore",
                    "--latest", "--force", "--dir", str(tmp_path / "carried"), check=False)
    assert wrong.returncode == 2 and "wrong passphrase" in wrong.stderr
    assert (new / "portal.sqlite3").read_bytes() == before
    # pending migrations at start-up: scripts/portal takes a verified backup first
    _manage(new_env, "migrate", "recovery", "zero", "-v0")
    script_env = {**new_env, "PORTAL_PYTHON": sys.executable}
    prep = subprocess.run(["scripts/portal", "prepare"], cwd=ROOT, env=script_env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert prep.returncode == 0, prep.stdout + prep.stderr
    assert "pre-migrate backup" in prep.stdout and "stored and verified" in prep.stdout
    assert len(list((new / "self-backups").glob("*pre-migrate*.tar.zst.enc"))) == 1
    listed = _manage(new_env, "shell", "-c", "from envs.recovery.models import SelfBackup; "
                     "print(SelfBackup.objects.filter(pre_migrate=True).count())")
    assert listed.stdout.strip().splitlines()[-1] == "1"
    # a backup that cannot be taken stops the start-up; --skip-backup overrides, audited
    _manage(new_env, "migrate", "recovery", "zero", "-v0")
    (new / "self-backups").rename(new / "kept")
    (new / "self-backups").write_text("not a directory: the backup cannot be stored")
    stopped = subprocess.run(["scripts/portal", "prepare"], cwd=ROOT, env=script_env,
                             capture_output=True, text=True, timeout=300, check=False)
    assert stopped.returncode != 0
    assert "the pre-migrate self-backup failed, so nothing was migrated" in stopped.stderr
    pending = _manage(new_env, "migrate", "--check", check=False)
    assert pending.returncode != 0  # still pending: nothing was migrated
    skipped = subprocess.run(["scripts/portal", "prepare", "--skip-backup"], cwd=ROOT,
                             env=script_env, capture_output=True, text=True, timeout=300,
                             check=False)
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    audit = _manage(new_env, "shell", "-c", "from portal.audit.models import AuditEvent; "
                    "print(AuditEvent.objects.filter(action='portal.self_backup_skipped')"
                    ".count())")
    assert audit.stdout.strip().splitlines()[-1] == "1"
