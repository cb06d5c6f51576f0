"""A consistent snapshot of the portal: its database (``pg_dump -Fc`` of one exported
snapshot for PostgreSQL; SQLite's online backup API for the embedded default, never a copy
of the live files), the loose Terraform state and plan files of the data directory, and the
manifest (schema version = latest migration of each app, portal version, row counts per
table of that very snapshot).

Terraform state of environments without an S3 backend and saved plans are rows of the
database (encrypted), so they travel in the dump; the data-dir files are the leftovers a
by-hand Terraform session may have written there.
"""

from __future__ import annotations

import fnmatch
import os
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection

from portal.lib import pg

from .archive import FORMAT, RecoveryError, file_sha256

DB_PG, DB_SQLITE = "database.pgdump", "database.sqlite3"
DATA_PATTERNS = ("*.tfstate", "*.tfstate.*", "*.tfplan", "*.tfplan.*")
SKIP_DIRS = {"runs", "cache", "static", "self-backups", "terraform"}


@dataclass
class Snapshot:
    manifest: dict[str, Any]
    members: list[tuple[str, Path]]


def portal_version() -> str:
    try:
        return metadata.version("eaas-portal")
    except metadata.PackageNotFoundError:
        return "unknown"


def pg_conn(settings_dict: dict[str, Any]) -> pg.PgConn:
    """The Django connection settings as a PgConn (password kept apart)."""
    params = {"dbname": settings_dict["NAME"], "user": settings_dict.get("USER") or "",
              "host": settings_dict.get("HOST") or "", "port": str(settings_dict.get("PORT") or "")}
    for key, value in (settings_dict.get("OPTIONS") or {}).items():
        if key in ("sslmode", "sslrootcert", "connect_timeout", "application_name"):
            params[key] = str(value)
    clean = tuple(sorted((k, v) for k, v in params.items() if v))
    return pg.PgConn(clean, settings_dict.get("PASSWORD") or None)


def latest_migrations(rows: list[tuple[str, str]]) -> dict[str, str]:
    """{app: its latest applied migration} from (app, name) rows in applied order."""
    out: dict[str, str] = {}
    for app, name in rows:
        out[app] = name
    return out


def _strip_schema(counts: dict[str, int]) -> dict[str, int]:
    return {name.removeprefix("public."): n for name, n in counts.items()}


def dump_postgres(conn: pg.PgConn, dest: Path) -> tuple[dict[str, int], dict[str, str], str]:
    """pg_dump of one exported snapshot into ``dest``; the counts and migrations of that
    same snapshot. Returns (counts, migrations, server version)."""
    ver = "{}.{}".format(*pg.check_tool_version(conn, "pg_dump"))
    with conn.connect() as c:
        c.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        c.read_only = True
        row = c.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None  # one function call, one row
        snap = row[0]
        with c.cursor() as cur:
            counts = _strip_schema(pg.row_counts_in(cur))
            migrations = latest_migrations(
                [(a, n) for a, n in cur.execute("SELECT app, name FROM django_migrations "
                                                "ORDER BY id").fetchall()])
        proc = pg.spawn("pg_dump", conn, ["--format=custom", "--compress=0",
                                          f"--snapshot={snap}", f"--file={dest}"],
                        stdout=subprocess.DEVNULL)
        _, err = proc.communicate()
        c.rollback()
    text = (err or b"").decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        raise RecoveryError(f"pg_dump failed (exit {proc.returncode}): {text[-2000:]}")
    return counts, migrations, ver


def sqlite_counts(path: Path) -> tuple[dict[str, int], dict[str, str]]:
    with sqlite3.connect(path) as c:
        tables = [r[0] for r in c.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name")]
        counts = {t: c.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]  # noqa: S608
                  for t in tables}
        rows = c.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall() \
            if "django_migrations" in tables else []
    c.close()
    return counts, latest_migrations(rows)


def backup_sqlite(source: Path, dest: Path) -> None:
    """SQLite's online backup API: a consistent copy while others write (WAL included)."""
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst, pages=4096, sleep=0.005)
    finally:
        dst.close()
        src.close()


def data_files(data_dir: Path) -> list[tuple[str, Path]]:
    """The data directory's loose Terraform state and plan files, as (archive name, path)."""
    found: list[tuple[str, Path]] = []
    if not data_dir.is_dir():
        return found
    for root, dirs, files in os.walk(data_dir):
        rel_root = Path(root).relative_to(data_dir)
        if rel_root == Path("."):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith("test-")
                       and not d.startswith("restore-")]
        dirs.sort()
        for name in sorted(files):
            if any(fnmatch.fnmatch(name, p) for p in DATA_PATTERNS):
                path = Path(root) / name
                found.append(("data/" + (rel_root / name).as_posix(), path))
    return found


def take(workdir: Path, log: Callable[[str], None]) -> Snapshot:
    """Snapshot the portal into ``workdir``: the database file, the manifest, the members."""
    started = time.monotonic()
    cfg = connection.settings_dict
    engine = connection.vendor
    if engine == "postgresql":
        db_name, db_path = DB_PG, workdir / DB_PG
        counts, migrations, server = dump_postgres(pg_conn(cfg), db_path)
        log(f"pg_dump of {cfg['NAME']} (PostgreSQL {server}) done: "
            f"{db_path.stat().st_size / 1048576:.1f} MiB, {len(counts)} tables")
    elif engine == "sqlite":
        db_name, db_path, server = DB_SQLITE, workdir / DB_SQLITE, sqlite3.sqlite_version
        backup_sqlite(Path(cfg["NAME"]), db_path)
        counts, migrations = sqlite_counts(db_path)
        log(f"SQLite online backup of {Path(cfg['NAME']).name} done: "
            f"{db_path.stat().st_size / 1048576:.1f} MiB, {len(counts)} tables")
    else:
        raise RecoveryError(f"self-backups support PostgreSQL and SQLite, not {engine}")
    members = [(db_name, db_path), *data_files(Path(settings.DATA_DIR))]
    now = datetime.now(UTC)
    manifest = {
        "format": FORMAT, "created_at": now.isoformat(), "epoch": int(now.timestamp()),
        "portal_version": portal_version(), "engine": engine, "server_version": server,
        "database": str(Path(cfg["NAME"]).name if engine == "sqlite" else cfg["NAME"]),
        "host": socket.gethostname(), "schema": migrations, "counts": counts,
        "files": [{"name": name, "size": path.stat().st_size, "sha256": file_sha256(path)}
                  for name, path in members],
        "snapshot_seconds": round(time.monotonic() - started, 3),
    }
    if len(members) > 1:
        log(f"{len(members) - 1} Terraform file(s) from the data directory")
    return Snapshot(manifest, members)
