"""PostgreSQL helpers for backups: client tools as child processes, versions, admin, checks.

Django-free. Connections are given as libpq URLs or ``key=value`` strings. Child processes are
started WITHOUT a shell, and the password never appears in argv: the connection goes to
``--dbname`` with the password stripped, and the password travels in ``PGPASSWORD`` (env).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import IO, Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo


class PgError(Exception):
    """A PostgreSQL tool or admin operation failed."""


@dataclass(frozen=True)
class PgConn:
    """A parsed connection: ``PgConn.parse("postgresql://u:pw@host:5432/db")``."""

    params: tuple[tuple[str, str], ...]  # libpq keywords WITHOUT password
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, dsn: str | PgConn) -> PgConn:
        if isinstance(dsn, PgConn):
            return dsn
        try:
            d = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
        except psycopg.ProgrammingError as exc:
            raise PgError(f"invalid connection string: {exc}") from None
        password = d.pop("password", None)
        return cls(tuple(sorted(d.items())), password)

    @property
    def dbname(self) -> str:
        return dict(self.params).get("dbname", "")

    def with_db(self, dbname: str) -> PgConn:
        d = dict(self.params) | {"dbname": dbname}
        return PgConn(tuple(sorted(d.items())), self.password)

    def conninfo(self) -> str:
        """The ``key=value`` string WITHOUT the password (safe for argv and logs)."""
        return make_conninfo(**dict(self.params))

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for a child process: PGPASSWORD set (or removed), never prompt."""
        env = dict(os.environ if base is None else base)
        env.pop("PGPASSWORD", None)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.conninfo(), password=self.password, **kwargs) \
                if self.password is not None else psycopg.connect(self.conninfo(), **kwargs)
        except psycopg.Error as exc:
            raise PgError(f"cannot connect to {self.describe()}: {exc}".strip()) from None

    def describe(self) -> str:
        p = dict(self.params)
        return f"{p.get('user', '')}@{p.get('host', '')}:{p.get('port', '5432')}/{self.dbname}"


def tool_path(tool: str, bin_dir: str | None = None) -> str:
    """Absolute path of ``pg_dump``/``pg_restore``/``psql`` (``bin_dir`` or ``$PATH``)."""
    if bin_dir:
        path = os.path.join(bin_dir, tool)
        if os.access(path, os.X_OK):
            return path
        raise PgError(f"{tool} not found in {bin_dir}")
    found = shutil.which(tool)
    if not found:
        raise PgError(f"{tool} not found on PATH")
    return found


def tool_argv(tool: str, conn: str | PgConn, args: list[str], bin_dir: str | None = None
              ) -> tuple[list[str], dict[str, str]]:
    """argv and env to run ``tool`` against ``conn``; argv carries no password."""
    c = PgConn.parse(conn)
    return [tool_path(tool, bin_dir), "--no-password", f"--dbname={c.conninfo()}", *args], c.env()


def spawn(tool: str, conn: str | PgConn, args: list[str], *, bin_dir: str | None = None,
          stdin: int | IO[Any] | None = None, stdout: int | IO[Any] | None = None,
          stderr: int | IO[Any] | None = subprocess.PIPE) -> subprocess.Popen[bytes]:
    """Start a client tool without a shell; password only in the child's environment."""
    argv, env = tool_argv(tool, conn, args, bin_dir)
    try:
        return subprocess.Popen(argv, env=env, stdin=stdin, stdout=stdout, stderr=stderr,
                                close_fds=True)
    except OSError as exc:
        raise PgError(f"cannot start {tool}: {exc}") from None


def run_psql(conn: str | PgConn, sql_text: str, *, bin_dir: str | None = None,
             timeout: float = 600) -> str:
    """Run SQL through ``psql`` (stops at the first error); returns stdout."""
    argv, env = tool_argv("psql", conn, ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                          bin_dir)
    proc = subprocess.run(argv, env=env, input=sql_text, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise PgError(f"psql exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


# -- versions ------------------------------------------------------------------------------------
_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


def tool_version(tool: str = "pg_dump", bin_dir: str | None = None) -> tuple[int, int]:
    """``(major, minor)`` of a client tool, from ``tool --version``."""
    out = subprocess.run([tool_path(tool, bin_dir), "--version"], capture_output=True,
                         text=True, timeout=30, check=False).stdout
    m = _VERSION_RE.search(out)  # "pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"
    if not m:
        raise PgError(f"cannot parse the version of {tool}: {out.strip()!r}")
    return int(m.group(1)), int(m.group(2) or 0)


def server_version(conn: str | PgConn) -> tuple[int, int]:
    """``(major, minor)`` of the server, e.g. ``(15, 20)``."""
    with PgConn.parse(conn).connect() as c:
        num = c.info.server_version  # e.g. 150020
    return num // 10000, num % 10000


def check_tool_version(conn: str | PgConn, tool: str = "pg_dump", bin_dir: str | None = None,
                       *, tool_ver: tuple[int, int] | None = None,
                       server_ver: tuple[int, int] | None = None) -> tuple[int, int]:
    """Raise PgError if ``tool`` is older (major) than the server; return the server version.

    pg_dump refuses to dump a newer server; say so up front, naming both versions.
    """
    tv = tool_ver or tool_version(tool, bin_dir)
    sv = server_ver or server_version(conn)
    if tv[0] < sv[0]:
        raise PgError(f"{tool} {tv[0]}.{tv[1]} is older than the PostgreSQL server "
                      f"{sv[0]}.{sv[1]}: install PostgreSQL {sv[0]} client tools "
                      f"(or newer) for {tool}")
    return sv


# -- contents ------------------------------------------------------------------------------------
_TABLES_SQL = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
ORDER BY 1, 2
"""


def _tables(cur: psycopg.Cursor[Any]) -> list[tuple[str, str]]:
    cur.execute(_TABLES_SQL)
    return [(s, t) for s, t in cur.fetchall()]


def row_counts_in(cur: psycopg.Cursor[Any]) -> dict[str, int]:
    """Exact ``count(*)`` of every user table seen by ``cur`` (its transaction's snapshot)."""
    out: dict[str, int] = {}
    for schema, table in _tables(cur):
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table)))
        row = cur.fetchone()
        assert row is not None  # an aggregate without GROUP BY returns one row
        out[f"{schema}.{table}"] = row[0]
    return out


def table_row_counts(conn: str | PgConn) -> dict[str, int]:
    """Exact ``count(*)`` of every user table, keyed ``"schema.table"``."""
    with PgConn.parse(conn).connect() as c, c.cursor() as cur:
        return row_counts_in(cur)


def table_checksums(conn: str | PgConn) -> dict[str, str]:
    """md5 over each table's rows (text form, sorted): equal data -> equal checksum.

    For tests and verification of restores; reads every row, so mind large tables.
    """
    out: dict[str, str] = {}
    q = "SELECT md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) FROM {} AS r"
    with PgConn.parse(conn).connect() as c, c.cursor() as cur:
        for schema, table in _tables(cur):
            cur.execute(sql.SQL(q).format(sql.Identifier(schema, table)))
            row = cur.fetchone()
            assert row is not None  # an aggregate without GROUP BY returns one row
            out[f"{schema}.{table}"] = row[0]
    return out


# -- admin (CREATE/DROP/RENAME DATABASE) ---------------------------------------------------------
def _admin(admin: str | PgConn, *targets: str) -> psycopg.Connection:
    a = PgConn.parse(admin)
    if a.dbname in targets:
        raise PgError(f"the admin connection must not use database {a.dbname!r} itself")
    return a.connect(autocommit=True)


def database_exists(admin: str | PgConn, name: str) -> bool:
    with PgConn.parse(admin).connect() as c:
        return c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() \
            is not None


def terminate_connections(admin: str | PgConn, name: str) -> int:
    """Terminate every other session connected to database ``name``; returns how many."""
    with _admin(admin, name) as c:
        rows = c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchall()
    return len(rows)


def create_database(admin: str | PgConn, name: str, owner: str | None = None,
                    template: str = "template0") -> None:
    q = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        sql.Identifier(name), sql.Identifier(template))
    if owner:
        q += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
    try:
        with _admin(admin, name) as c:
            c.execute(q)
    except psycopg.Error as exc:
        raise PgError(f"cannot create database {name!r}: {exc}") from None


def drop_database(admin: str | PgConn, name: str, missing_ok: bool = True) -> None:
    """Terminate sessions on ``name`` and drop it."""
    q = sql.SQL("DROP DATABASE {}{} WITH (FORCE)").format(
        sql.SQL("IF EXISTS ") if missing_ok else sql.SQL(""), sql.Identifier(name))
    try:
        terminate_connections(admin, name)
        with _admin(admin, name) as c:
            c.execute(q)
    except psycopg.Error as exc:
        raise PgError(f"cannot drop database {name!r}: {exc}") from None


def rename_database(admin: str | PgConn, old: str, new: str) -> None:
    """Rename ``old`` to ``new``: refuse new sessions, terminate the others, rename."""
    ident_old, ident_new = sql.Identifier(old), sql.Identifier(new)
    try:
        with _admin(admin, old, new) as c:
            c.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(ident_old))
            try:
                c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (old,))
                c.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident_old, ident_new))
                final = ident_new
            except psycopg.Error:
                final = ident_old
                raise
            finally:
                c.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(final))
    except psycopg.Error as exc:
        raise PgError(f"cannot rename database {old!r} to {new!r}: {exc}") from None


def swap_in_database(admin: str | PgConn, scratch: str, live: str, keep_old_as: str) -> None:
    """Make a restored ``scratch`` database live: ``live`` -> ``keep_old_as``, ``scratch`` ->
    ``live``. If the second rename fails, the first is undone."""
    had_live = database_exists(admin, live)
    if had_live:
        rename_database(admin, live, keep_old_as)
    try:
        rename_database(admin, scratch, live)
    except PgError:
        if had_live:
            rename_database(admin, keep_old_as, live)
        raise


def database_owner(admin: str | PgConn, name: str) -> str | None:
    """The owner role of database ``name`` (None if there is no such database)."""
    with PgConn.parse(admin).connect() as c:
        row = c.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                        (name,)).fetchone()
    return row[0] if row else None


def can_act_as(admin: str | PgConn, role: str) -> bool:
    """Whether the admin connection's user may ``SET ROLE`` to ``role``."""
    with PgConn.parse(admin).connect() as c:
        row = c.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (role,)).fetchone()
    return bool(row and row[0])


def rename_blockers(admin: str | PgConn, name: str) -> list[str]:
    """Why the admin connection could NOT rename database ``name`` (empty: it can).

    ALTER DATABASE ... RENAME needs ownership (privileges of the owner role) or superuser, and
    every other session on the database must be terminable: a non-superuser may terminate only
    sessions of roles whose privileges it has (or with pg_signal_backend), never a superuser's.
    """
    with PgConn.parse(admin).connect() as c:
        role = c.execute(
            "SELECT current_user, rolsuper, rolcreatedb FROM pg_roles "
            "WHERE rolname = current_user").fetchone()
        assert role is not None  # the connected user has a pg_roles row
        me, superuser, createdb = role
        if superuser:
            return []
        row = c.execute("SELECT pg_get_userbyid(datdba), pg_has_role(current_user, datdba, "
                        "'USAGE') FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if row is None:
            return [f"there is no database {name!r}"]
        out: list[str] = []
        if not row[1]:
            out.append(f"the admin role {me} neither owns database {name} (owner: {row[0]}) "
                       "nor is a superuser")
        if not createdb:
            out.append(f"the admin role {me} lacks CREATEDB")
        stuck = c.execute(
            "SELECT DISTINCT r.rolname FROM pg_stat_activity a JOIN pg_roles r "
            "ON r.oid = a.usesysid WHERE a.datname = %s AND a.pid <> pg_backend_pid() "
            "AND (r.rolsuper OR NOT (pg_has_role(current_user, r.oid, 'USAGE') "
            "OR pg_has_role(current_user, 'pg_signal_backend', 'USAGE'))) ORDER BY 1",
            (name,)).fetchall()
        if stuck:
            out.append(f"{name} is in use by sessions of {', '.join(r[0] for r in stuck)} "
                       f"that {me} may not terminate")
    return out


def table_owner(conn: str | PgConn) -> str | None:
    """The role owning most user tables of the database ``conn`` points at (None: no tables)."""
    with PgConn.parse(conn).connect() as c:
        row = c.execute(
            "SELECT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN "
            "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
            "GROUP BY c.relowner ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()
    return row[0] if row else None
