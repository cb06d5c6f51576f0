"""ClickHouse over its HTTP interface (clickhouse-connect): row counts, and ClickHouse's own
``BACKUP ... TO S3(...)`` / ``RESTORE ... FROM S3(...)``.

The connection URL (``http[s]://user:password@host:8123``) is parsed here; the bucket
credentials are part of the statement text ClickHouse needs (``S3(url, key, secret)``), sent
in the POST body, never in a URL or argv, and the caller registers them with its redactor.
ClickHouse runs a BACKUP asynchronously (``ASYNC``) so a long one survives HTTP timeouts;
``wait`` polls ``system.backups`` for its end. Identifiers are quoted here, and values that
go into statements are quoted as ClickHouse string literals.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit


class ClickHouseError(Exception):
    pass


def ident(name: str) -> str:
    """A back-quoted identifier."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def literal(value: str) -> str:
    """A single-quoted string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class ClickHouseConn:
    host: str
    port: int
    user: str
    password: str
    secure: bool

    @classmethod
    def parse(cls, url: str) -> ClickHouseConn:
        """``http(s)://user:password@host[:port]`` (8123 / 8443 by default)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise ClickHouseError("not a valid ClickHouse URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ClickHouseError("a ClickHouse URL is http(s)://user:password@host:port")
        secure = parts.scheme == "https"
        return cls(host=parts.hostname, port=port or (8443 if secure else 8123),
                   user=unquote(parts.username or "default"),
                   password=unquote(parts.password or ""), secure=secure)

    def describe(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.host}:{self.port} as {self.user}"


@dataclass(frozen=True)
class S3Target:
    """Where ClickHouse writes a backup: a folder in a bucket, as ClickHouse reaches it."""

    url: str  # http(s)://endpoint/bucket/key/ (path style)
    access_key: str
    secret_key: str

    def sql(self) -> str:
        return f"S3({literal(self.url)}, {literal(self.access_key)}, {literal(self.secret_key)})"

    @classmethod
    def in_bucket(cls, *, bucket: str, key: str, endpoint_url: str | None, region: str,
                  access_key: str, secret_key: str) -> S3Target:
        host = (endpoint_url or f"https://s3.{region or 'us-east-1'}.amazonaws.com").rstrip("/")
        return cls(f"{host}/{bucket}/{key.strip('/')}/", access_key, secret_key)


@dataclass
class BackupStatus:
    id: str
    status: str  # BACKUP_CREATED, RESTORED, ..._FAILED, CREATING_BACKUP, RESTORING
    error: str
    num_files: int
    total_size: int
    uncompressed_size: int
    compressed_size: int

    @property
    def done(self) -> bool:
        return self.status not in ("CREATING_BACKUP", "RESTORING")

    @property
    def ok(self) -> bool:
        return self.status in ("BACKUP_CREATED", "RESTORED")


class ClickHouse:
    def __init__(self, conn: ClickHouseConn, *, connect_timeout: float = 10,
                 send_receive_timeout: float = 300):
        self.conn = conn
        self._timeouts = (connect_timeout, send_receive_timeout)
        self._client: Any = None

    @property
    def client(self) -> Any:  # a clickhouse_connect HttpClient (built on first use)
        if self._client is None:
            import clickhouse_connect  # heavy (numpy-free but large): only when used

            try:
                self._client = clickhouse_connect.get_client(
                    host=self.conn.host, port=self.conn.port, username=self.conn.user,
                    password=self.conn.password, secure=self.conn.secure,
                    connect_timeout=self._timeouts[0],
                    send_receive_timeout=self._timeouts[1], compress=False,
                    autogenerate_session_id=False)
            except Exception as exc:
                raise ClickHouseError(f"cannot connect to ClickHouse at "
                                      f"{self.conn.describe()}: {_short(exc)}") from None
        return self._client

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return [tuple(r) for r in self.client.query(sql).result_rows]
        except ClickHouseError:
            raise
        except Exception as exc:
            raise ClickHouseError(_short(exc)) from None

    def command(self, sql: str) -> Any:
        try:
            return self.client.command(sql)
        except ClickHouseError:
            raise
        except Exception as exc:
            raise ClickHouseError(_short(exc)) from None

    def version(self) -> str:
        return str(self.rows("SELECT version()")[0][0])

    def databases(self) -> list[str]:
        return [r[0] for r in self.rows("SELECT name FROM system.databases ORDER BY name")]

    def tables(self, databases: Iterable[str]) -> list[tuple[str, str, str]]:
        """(database, table, engine) of real tables (no views/dictionaries) in databases."""
        names = ", ".join(literal(d) for d in databases)
        if not names:
            return []
        sql = ("SELECT database, name, engine FROM system.tables WHERE database IN "  # noqa: S608
               f"({names}) AND NOT is_temporary AND engine NOT IN ('View', 'MaterializedView', "
               "'LiveView', 'Dictionary', 'Distributed') ORDER BY database, name")
        return [(r[0], r[1], r[2]) for r in self.rows(sql)]

    def row_counts(self, databases: Iterable[str]) -> dict[str, int]:
        """``database.table`` -> exact ``count()`` of every table in the databases."""
        out: dict[str, int] = {}
        for db, table, _engine in self.tables(databases):
            out[f"{db}.{table}"] = int(self.rows(
                f"SELECT count() FROM {ident(db)}.{ident(table)}")[0][0])  # noqa: S608
        return out

    def start_backup(self, databases: Iterable[str], target: S3Target) -> str:
        """``BACKUP DATABASE a, DATABASE b TO S3(...) ASYNC``; returns the backup's id."""
        what = ", ".join(f"DATABASE {ident(d)}" for d in databases)
        return self._start(f"BACKUP {what} TO {target.sql()} ASYNC")

    def start_restore(self, renames: dict[str, str], target: S3Target,
                      structure_only: bool = False) -> str:
        """``RESTORE DATABASE a AS a_x ... FROM S3(...) ASYNC`` into NEW databases; returns
        the restore's id. ``renames`` maps each database in the backup to its new name."""
        what = ", ".join(f"DATABASE {ident(src)} AS {ident(dst)}" for src, dst in
                         renames.items())
        settings = " SETTINGS structure_only = 1" if structure_only else ""
        return self._start(f"RESTORE {what} FROM {target.sql()}{settings} ASYNC")

    def _start(self, sql: str) -> str:
        rows = self.rows(sql)
        if not rows or not rows[0]:
            raise ClickHouseError("ClickHouse answered no operation id")
        return str(rows[0][0])

    def status(self, op_id: str) -> BackupStatus | None:
        sql = ("SELECT id, toString(status), error, num_files, total_size, "  # noqa: S608
               "uncompressed_size, compressed_size FROM system.backups WHERE id = "
               + literal(op_id))
        rows = self.rows(sql)
        if not rows:
            return None
        r = rows[0]
        return BackupStatus(id=str(r[0]), status=str(r[1]), error=str(r[2] or ""),
                            num_files=int(r[3] or 0), total_size=int(r[4] or 0),
                            uncompressed_size=int(r[5] or 0), compressed_size=int(r[6] or 0))

    def wait(self, op_id: str, *, timeout: float, interval: float = 1.0,
             sleep: Callable[[float], bool] | None = None) -> BackupStatus:
        """Poll until the operation ended. ``sleep(seconds)`` returns True to stop waiting
        (a cancel): then ClickHouseError is raised and the operation is asked to stop."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.status(op_id)
            if st is not None and st.done:
                return st
            if time.monotonic() > deadline:
                self.kill(op_id)
                raise ClickHouseError(f"operation {op_id} took longer than {timeout:.0f} s "
                                      "and was stopped")
            if sleep is None:
                time.sleep(interval)
            elif sleep(interval):
                self.kill(op_id)
                raise ClickHouseError(f"operation {op_id} was stopped")

    def kill(self, op_id: str) -> None:
        try:
            self.command(f"KILL QUERY WHERE query_id = {literal(op_id)} ASYNC")
        except ClickHouseError:
            pass  # best effort: it may have ended meanwhile

    def drop_database(self, name: str) -> None:
        self.command(f"DROP DATABASE IF EXISTS {ident(name)} SYNC")

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail
                self._client.close()
            self._client = None


def _short(exc: Exception) -> str:
    text = str(exc).strip().replace("\n", " ")
    return text[:1500]
