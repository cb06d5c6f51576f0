"""The portal drill: the newest self-backup restored into a scratch database (PostgreSQL:
a new database on the same server; SQLite: a temporary file), migrated with the current
code, its counts compared with the manifest, then dropped."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connections

from portal.lib import crypto, pg

from . import restore, selfbackup
from .archive import RecoveryError
from .snapshot import DB_SQLITE, pg_conn, sqlite_counts
from .storage import Storage


def database_url(conn: pg.PgConn) -> str:
    p = dict(conn.params)
    auth = quote(p.get("user", ""), safe="") + (
        f":{quote(conn.password, safe='')}" if conn.password else "")
    host = p.get("host") or "127.0.0.1"
    return f"postgres://{auth}@{host}:{p.get('port') or 5432}/{quote(conn.dbname, safe='')}"


def migrate_scratch(database_url: str) -> None:
    """``manage.py migrate`` of the current code against the scratch database, in its own
    process (its own connections, exactly what a start-up after a restore would run)."""
    env = {**os.environ, "DATABASE_URL": database_url}
    proc = subprocess.run([sys.executable, str(Path(settings.BASE_DIR) / "manage.py"),
                           "migrate", "--noinput", "-v0"], env=env, capture_output=True,
                          text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        raise RecoveryError(f"migrating the restored copy failed: {proc.stderr.strip()[-2000:]}")


def undecryptable(cursor: Any, tables: set[str]) -> list[str]:
    """One stored value of every encrypted column, decrypted with the keys in effect
    (columns of tables the backup does not have yet are skipped)."""
    problems = []
    for model, field in crypto.encrypted_fields():
        table, column = model._meta.db_table, field.column
        if table not in tables:
            continue
        cursor.execute(f'SELECT "{column}" FROM "{table}" '  # noqa: S608 - model names
                       f'WHERE "{column}" IS NOT NULL LIMIT 1')
        row = cursor.fetchone()
        if row and row[0]:
            try:
                crypto.decrypt_str(row[0])
            except crypto.DecryptionError:
                problems.append(f"{model._meta.label}.{field.name}")
    return problems


def run(store: Storage, passphrase: str, workdir: Path, log: Callable[[str], None],
        tag: str) -> dict[str, Any]:
    """Returns {"key", "passed", "detail", "seconds"}; raises RecoveryError on a failure
    that leaves nothing to compare (no backup, unreadable object)."""
    started = time.monotonic()
    latest = store.latest()
    if latest is None:
        raise RecoveryError(f"no self-backup in {store.describe()} to drill")
    log(f"Drill of {latest.key} ({latest.size / 1048576:.1f} MiB)")
    staged = workdir / "staged"
    manifest = selfbackup.stage(store, latest.key, passphrase, staged)
    log("Downloaded, decrypted and checked")
    default = connections["default"]
    if manifest.get("engine") != default.vendor:
        raise RecoveryError(f"the backup holds {manifest.get('engine')}, this portal runs "
                            f"{default.vendor}")
    settings_dict = dict(default.settings_dict)
    scratch = ""
    try:
        if default.vendor == "postgresql":
            admin = pg_conn(settings_dict)
            scratch = f"{settings_dict['NAME']}_drill_{tag}"[:63]
            pg.drop_database(admin, scratch)
            pg.create_database(admin, scratch)
            target = admin.with_db(scratch)
            restore.load_postgres(staged, target)
            got = {k.removeprefix("public."): v for k, v in pg.table_row_counts(target).items()}
            with target.connect() as c, c.cursor() as cur:
                bad = undecryptable(cur, set(got))
                c.rollback()
            migrate_scratch(database_url(target))
        else:
            path = workdir / "drill.sqlite3"
            shutil.copyfile(staged / DB_SQLITE, path)
            got, _ = sqlite_counts(path)
            with closing(sqlite3.connect(path)) as lite:
                bad = undecryptable(lite.cursor(), set(got))
            migrate_scratch(f"sqlite:///{path}")
        diff = restore.differences(manifest.get("counts", {}), got)
        log(f"Restored into {scratch or 'a temporary SQLite file'}: {sum(got.values())} rows "
            f"in {len(got)} tables; migrated with the current code")
    finally:
        if scratch:
            pg.drop_database(pg_conn(settings_dict), scratch)
        shutil.rmtree(staged, ignore_errors=True)
    detail = "; ".join(diff[:10]) if diff else ""
    if bad:
        detail = (detail + "; " if detail else "") + "cannot decrypt " + ", ".join(bad)
    passed = not diff and not bad
    return {"key": latest.key, "passed": passed, "seconds": round(time.monotonic() - started, 3),
            "detail": detail or f"{sum(got.values())} rows in {len(got)} tables equal the "
                                 "manifest; migrated; secrets decrypt"}
