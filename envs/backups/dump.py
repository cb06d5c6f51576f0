"""Taking and proving a PostgreSQL backup (worker side): pg_dump of one snapshot streamed
to the bucket while that snapshot's rows are counted, the read-back verification, and the
flag on a backup that looks wrong.

Every step talks to the outside world only through portal.lib (pg, backup_stream, s3) and
turns their errors into RunFailed with a message that says what happened and what was (not)
touched. Secrets were registered with the run's redactor before any of this runs.
"""

from __future__ import annotations

import threading
import time

import psycopg
from django.conf import settings
from django.utils import timezone

from portal.lib import backup_stream as bs
from portal.lib import pg
from portal.lib.s3 import S3Error, S3Store
from portal.runs.engine import Canceled, RunFailed

from .models import Backup, BackupSource, Verification

SMALL_RATIO = 0.5  # a backup below half the raw size of the last good one is flagged


def mib(n: int) -> str:
    return f"{n / 1048576:.1f} MiB"


class SnapshotCounts:
    """Export a snapshot and count every table's rows in it, in a thread, while pg_dump dumps
    that same snapshot (``--snapshot``): the recorded counts are exactly what the dump holds.
    The exporting transaction stays open until ``finish``, after pg_dump has imported it."""

    def __init__(self, conn: pg.PgConn):
        self.conn = conn.connect()
        self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.conn.read_only = True
        row = self.conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None  # a SELECT of one function call returns one row
        self.snapshot = row[0]
        self.counts: dict[str, int] | None = None
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._count, daemon=True, name="row-counts")
        self._thread.start()

    def _count(self) -> None:
        try:
            with self.conn.cursor() as cur:
                self.counts = pg.row_counts_in(cur)
        except Exception as exc:  # reported by finish()
            self.error = exc

    def finish(self, abort: bool = False) -> dict[str, int]:
        if abort:
            try:
                self.conn.cancel()
            except psycopg.Error:
                pass
        self._thread.join()
        try:
            self.conn.rollback()
            self.conn.close()
        except psycopg.Error:
            pass
        if self.error and not abort:
            raise RunFailed(f"counting rows failed: {self.error}")
        return self.counts or {}


def _deadline_cancel(ctx, seconds: int):
    """should_cancel for the library: the run's cancel flag, or the backup timeout."""
    deadline, state = time.monotonic() + seconds, {"timed_out": False}

    def should_cancel() -> bool:
        if ctx.canceled:
            return True
        if time.monotonic() > deadline:
            state["timed_out"] = True
            return True
        return False

    return should_cancel, state


def backup_postgres(ctx, source: BackupSource, store: S3Store, reason: str = "",
                    tag: str = "") -> Backup:
    conn = pg.PgConn.parse(source.database_url or "")
    try:
        tool = pg.tool_version("pg_dump")
        server = pg.check_tool_version(conn, tool_ver=tool)
    except pg.PgError as exc:
        raise RunFailed(f"{source}: {exc}") from None
    tool_s, server_s = "{}.{}".format(*tool), "{}.{}".format(*server)
    ctx.log(f"pg_dump {tool_s}, server PostgreSQL {server_s}; {source.describe()}")
    key = source.new_key(ctx.run.pk, tag=tag)
    timeout = settings.BACKUP_TIMEOUT
    should_cancel, state = _deadline_cancel(ctx, timeout)
    try:
        counts = SnapshotCounts(conn)
    except (pg.PgError, psycopg.Error) as exc:
        raise RunFailed(f"{source}: cannot open a snapshot: {exc}") from None
    ctx.log(f"Streaming pg_dump -Fc -Z0 | zstd{' | AES-GCM' if source.encrypt else ''} "
            f"to s3://{store.bucket}/{key} (snapshot {counts.snapshot})")
    try:
        res = bs.backup_database(conn, store, key, encryption_key=source.key_bytes(),
                                 should_cancel=should_cancel,
                                 extra_args=[f"--snapshot={counts.snapshot}"])
    except bs.BackupCancelled:
        counts.finish(abort=True)
        if state["timed_out"]:
            raise RunFailed(f"backup of {source} took longer than PORTAL_BACKUP_TIMEOUT "
                            f"({timeout} s); pg_dump was stopped and the upload aborted, "
                            "no object was left") from None
        ctx.log("Canceled: pg_dump stopped and the multipart upload aborted; no object left.")
        raise Canceled() from None
    except (bs.BackupError, pg.PgError, S3Error) as exc:
        counts.finish(abort=True)
        raise RunFailed(f"backup of {source} failed: {exc} -- the multipart upload was "
                        "aborted, no object was left in the bucket") from None
    row_counts = counts.finish()
    ctx.log(f"Uploaded {mib(res.size)} ({mib(res.raw_size)} from pg_dump) in "
            f"{res.duration:.1f}s; sha256 {res.sha256}")
    return Backup.objects.create(
        source=source, run=ctx.run, key=key, size=res.size, raw_size=res.raw_size,
        sha256=res.sha256, encrypted=res.encrypted, tool_version=tool_s,
        server_version=server_s, duration=res.duration, row_counts=row_counts, reason=reason)


def _toc_has(toc: set[str], table: str) -> bool:
    schema, _, name = table.partition(".")
    return table in toc or f"{schema} {name}" in toc


def verify_postgres(ctx, store: S3Store, backup: Backup) -> None:
    ctx.log(f"Verifying: streaming {backup.key} back (sha256 + pg_restore --list)")
    try:
        v = bs.verify_backup(store, backup.key, encryption_key=backup.source.key_bytes(),
                             expected_sha256=backup.sha256)
        toc = set(v.tables)
        missing = sorted(t for t in backup.row_counts if not _toc_has(toc, t))
        if missing:
            raise bs.BackupError(f"tables missing from the archive: {', '.join(missing)}")
    except (bs.BackupError, S3Error) as exc:
        Backup.objects.filter(pk=backup.pk).update(
            verification=Verification.FAILED, verify_detail=str(exc)[:4000])
        raise RunFailed(f"verification of backup #{backup.pk} failed: {exc}") from None
    detail = (f"sha256 matches; {v.toc_entries} archive entries, {len(v.tables)} tables with "
              f"data; read back in {v.duration:.1f}s")
    Backup.objects.filter(pk=backup.pk).update(
        verification=Verification.VERIFIED, verify_detail=detail, verified_at=timezone.now())
    backup.refresh_from_db()
    ctx.log(f"Verified: {detail}")


def flag_if_suspicious(ctx, backup: Backup) -> str:
    """Empty, or implausibly small next to the last good backup: say so, keep it."""
    reason = ""
    if not backup.row_counts:
        reason = "empty: the database has no tables"
    elif backup.total_rows == 0:
        reason = "empty: no rows in any table"
    else:
        last_good = (Backup.objects.filter(source=backup.source, created_at__lt=backup.created_at,
                                           verification=Verification.VERIFIED, flagged="",
                                           deleted_at__isnull=True)
                     .order_by("-created_at").first())
        if last_good and backup.raw_size < SMALL_RATIO * last_good.raw_size:
            reason = (f"implausibly small: {mib(backup.raw_size)} is under "
                      f"{SMALL_RATIO:.0%} of the last good backup #{last_good.pk} "
                      f"({mib(last_good.raw_size)})")
    if reason:
        Backup.objects.filter(pk=backup.pk).update(flagged=reason)
        ctx.log(f"WARNING: backup #{backup.pk} flagged: {reason}")
    return reason
