"""Loading a proven (unpacked) self-backup into a database: a fresh PostgreSQL database or
SQLite file, then the counts of every table beside the manifest's. Used by the restore
command (the live database) and by the drill (a scratch one)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from django.apps import apps
from django.core.management import call_command
from django.db import connections

from portal.lib import crypto, pg

from .archive import RecoveryError
from .snapshot import DB_PG, DB_SQLITE, pg_conn

# Tables an empty, migrated portal may hold rows in: not "data" for the refusal.
SCAFFOLDING = {"django_migrations", "django_content_type", "auth_permission", "django_site",
               "django_q_schedule", "django_session", "django_q_ormq", "django_q_task"}
# The tables printed beside the manifest (every table is compared).
MAIN_TABLES = ["auth_user", "catalog_location", "catalog_entity", "catalog_relation",
               "envs_environment", "secrets_secret", "secrets_secretversion",
               "provisioning_planartifact", "provisioning_statesnapshot", "deploys_release",
               "backups_backupsource", "backups_backup", "runs_run", "runs_runline",
               "audit_auditevent", "auth_apitoken"]


def counts(alias: str = "default") -> dict[str, int]:
    """Exact row counts of every table of the database behind ``alias``."""
    conn = connections[alias]
    out: dict[str, int] = {}
    with conn.cursor() as cur:
        for table in sorted(conn.introspection.table_names(cur)):
            cur.execute(f"SELECT count(*) FROM {conn.ops.quote_name(table)}")  # noqa: S608
            row = cur.fetchone()
            out[table] = int(row[0]) if row else 0
    return out


def holds_data(alias: str = "default") -> dict[str, int]:
    """Tables (other than migration bookkeeping) that hold rows."""
    return {t: n for t, n in counts(alias).items() if n and t not in SCAFFOLDING}


def differences(expected: dict[str, int], got: dict[str, int]) -> list[str]:
    out = []
    for table in sorted(set(expected) | set(got)):
        if expected.get(table) != got.get(table):
            out.append(f"{table}: {got.get(table, 'missing')} rows, the backup had "
                       f"{expected.get(table, 'none')}")
    return out


def count_table(manifest: dict[str, Any], got: dict[str, int]) -> list[str]:
    """Lines for the owner: the main tables, restored beside the manifest."""
    expected = manifest.get("counts", {})
    lines = [f"{'table':32} {'backup':>10} {'restored':>10}"]
    for table in MAIN_TABLES:
        if table in expected or table in got:
            mark = "" if expected.get(table) == got.get(table) else "  <-- DIFFERENT"
            lines.append(f"{table:32} {expected.get(table, '-')!s:>10} "
                         f"{got.get(table, '-')!s:>10}{mark}")
    others = [t for t in expected if t not in MAIN_TABLES]
    same = sum(1 for t in others if expected[t] == got.get(t))
    lines.append(f"... and {same} of {len(others)} other tables equal")
    return lines


def wipe_postgres(conn: pg.PgConn) -> None:
    """Drop everything in the public schema (the portal keeps all its tables there)."""
    pg.run_psql(conn, "DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n")


def load_postgres(staged: Path, conn: pg.PgConn) -> None:
    """``pg_restore --no-owner --no-acl --single-transaction`` of the staged dump."""
    proc = pg.spawn("pg_restore", conn, ["--no-owner", "--no-acl", "--exit-on-error",
                                         "--single-transaction", str(staged / DB_PG)],
                    stdout=subprocess.DEVNULL)
    _, err = proc.communicate()
    text = (err or b"").decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        raise RecoveryError(f"pg_restore failed (exit {proc.returncode}): {text[-2000:]}")


def load_sqlite(staged: Path, target: Path) -> None:
    """Put the staged SQLite file in place of ``target`` (no WAL of the old one survives)."""
    tmp = target.with_name(f".{target.name}.restoring")
    shutil.copyfile(staged / DB_SQLITE, tmp)
    for suffix in ("-wal", "-shm", "-journal"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    os.replace(tmp, target)


def load(staged: Path, manifest: dict[str, Any], alias: str = "default") -> None:
    """Replace the database behind ``alias`` with the staged one (engines must match)."""
    conn = connections[alias]
    engine = manifest.get("engine")
    if engine != conn.vendor:
        raise RecoveryError(
            f"this self-backup holds a {engine} database but this portal uses "
            f"{conn.vendor}: set DATABASE_URL to a {engine} database "
            + ("(an empty one)" if engine == "postgresql" else "(unset it: embedded SQLite)"))
    settings_dict = dict(conn.settings_dict)
    conn.close()
    if engine == "postgresql":
        target = pg_conn(settings_dict)
        wipe_postgres(target)
        load_postgres(staged, target)
    else:
        load_sqlite(staged, Path(settings_dict["NAME"]))


def migrate(alias: str = "default") -> None:
    call_command("migrate", database=alias, interactive=False, verbosity=0)


def restore_files(staged: Path, data_dir: Path) -> list[str]:
    """Copy the archive's data-dir files back into place."""
    root = staged / "data"
    written: list[str] = []
    if not root.is_dir():
        return written
    for path in sorted(root.rglob("*")):
        if path.is_file():
            rel = path.relative_to(root)
            dest = data_dir / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            written.append(rel.as_posix())
    return written


def secrets_decrypt(alias: str = "default") -> list[str]:
    """Decrypt one stored value of every encrypted column; the problems (empty: all good).
    Proves the encryption keys in the environment are the ones the data was written with."""
    problems = []
    for model, field in crypto.encrypted_fields():
        if not apps.is_installed(model._meta.app_config.name):
            continue
        try:
            model._default_manager.using(alias).exclude(**{field.name: None}).values_list(
                field.name, flat=True).first()
        except crypto.DecryptionError:
            problems.append(f"{model._meta.label}.{field.name}")
    return problems
