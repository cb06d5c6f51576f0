"""PostgreSQL steps of the backup, restore and drill runs (worker side).

Every step talks to the outside world only through portal.lib (pg, backup_stream, s3) and
turns their errors into RunFailed with a message that says what happened and what was (not)
touched. Secrets were registered with the run's redactor before any of this runs.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import psycopg
from django.conf import settings
from django.utils import timezone

from portal.lib import backup_stream as bs
from portal.lib import pg
from portal.lib.s3 import S3Error, S3Store
from portal.runs.engine import Canceled, RunFailed

from .models import Backup, BackupSource, Drill, Verification

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
        self.snapshot = self.conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
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


def compare_counts(expected: dict[str, int], got: dict[str, int]) -> list[str]:
    problems = [f"table {t} missing" for t in sorted(set(expected) - set(got))]
    problems += [f"unexpected table {t}" for t in sorted(set(got) - set(expected))]
    problems += [f"{t}: {got[t]} rows, expected {expected[t]}" for t in sorted(expected)
                 if t in got and got[t] != expected[t]]
    return problems


def dbname(text: str) -> str:
    """A database name within PostgreSQL's 63-byte limit."""
    return text[:63]


def _owner_for(ctx, admin: pg.PgConn, live: str) -> str | None:
    owner = pg.database_owner(admin, live)
    if owner and not pg.can_act_as(admin, owner):
        ctx.log(f"WARNING: the admin role may not act as {owner}, the owner of {live}; "
                "restored objects will belong to the admin role")
        return None
    return owner


def restore_postgres(ctx, store: S3Store, backup: Backup) -> dict:
    """Restore into a new scratch database, check it, then swap it in by renaming or, where
    renaming is not possible, restore in place after a safety backup (inplace.py)."""
    from . import inplace

    source = backup.source
    admin, live = source.admin_conn(), source.live_database
    scratch = dbname(f"{live}_restore_{ctx.run.pk}")
    try:
        blockers = pg.rename_blockers(admin, live)
        owner = inplace.in_place_role(ctx, admin, live) if blockers else \
            _owner_for(ctx, admin, live)
    except pg.PgError as exc:
        raise RunFailed(f"{source}: {exc}") from None
    if blockers:
        ctx.log(f"Renaming {live} is not possible ({'; '.join(blockers)}): after the scratch "
                "restore is verified, a safety backup is taken and the backup restored in place")
    ctx.log(f"Restoring backup #{backup.pk} ({backup.created_at:%Y-%m-%d %H:%M} UTC, "
            f"{mib(backup.size)}) into the new database {scratch}; {live} is not touched yet")
    try:
        res = bs.restore_to_scratch(admin, store, backup.key, scratch, owner=owner,
                                    encryption_key=source.key_bytes(),
                                    expected_sha256=backup.sha256,
                                    should_cancel=lambda: ctx.canceled)
    except bs.BackupCancelled:
        ctx.log(f"Canceled: the scratch database was dropped; {live} was not touched.")
        raise Canceled() from None
    except bs.ChecksumMismatch as exc:
        raise RunFailed(f"checksum mismatch, restore stopped: {exc}. The scratch database was "
                        f"dropped; the live database {live} was not touched") from None
    except (bs.BackupError, pg.PgError, S3Error) as exc:
        raise RunFailed(f"restore failed: {exc}. The scratch database was dropped; the live "
                        f"database {live} was not touched") from None
    ctx.log(f"Restored {mib(res.raw_size)} in {res.duration:.1f}s; sha256 verified while "
            "streaming")
    try:
        got = pg.table_row_counts(admin.with_db(scratch))
        problems = compare_counts(backup.row_counts, got)
        if problems:
            raise RunFailed("sanity check failed (" + "; ".join(problems[:10]) + "). The "
                            f"scratch database was dropped; the live database {live} was not "
                            "touched")
        ctx.log(f"Sanity check passed: {len(got)} tables, {sum(got.values())} rows, as "
                "recorded at backup time")
        ctx.check_canceled()  # the last moment a cancel is honoured before renaming
        if not blockers:
            keep = _free_name(admin, dbname(f"{live}_pre_restore_"
                                            f"{datetime.now(UTC):%Y%m%d%H%M}"))
            ctx.log(f"Swapping in: {live} -> {keep} (connections terminated), {scratch} -> "
                    f"{live}")
            try:
                pg.swap_in_database(admin, scratch, live, keep)
            except pg.PgError as exc:
                if not (pg.database_exists(admin, live) and pg.database_exists(admin, scratch)):
                    raise RunFailed(f"swapping in failed: {exc}. Check the databases {live}, "
                                    f"{keep} and {scratch} by hand") from None
                blockers = [f"renaming failed ({exc}); nothing was renamed"]
        if blockers:
            result = inplace.restore_in_place(ctx, store, backup, admin, live, blockers)
    except BaseException:
        try:
            pg.drop_database(admin, scratch)
        except pg.PgError as exc:
            ctx.log(f"WARNING: could not drop the scratch database {scratch}: {exc}")
        raise
    if blockers:
        pg.drop_database(admin, scratch)
        ctx.log(f"The verified scratch database {scratch} was dropped.")
        return result | {"restore_seconds": round(res.duration + result["restore_seconds"], 2)}
    ctx.log(f"Done. The previous database is kept as {keep} until you drop it "
            f"(DROP DATABASE \"{keep}\").")
    return {"backup": backup.pk, "database": live, "path": "rename", "kept_as": keep,
            "tables": len(got),
            "rows": sum(got.values()), "restore_seconds": round(res.duration, 2)}


def _free_name(admin: pg.PgConn, name: str) -> str:
    candidate, n = name, 1
    while pg.database_exists(admin, candidate):
        n += 1
        candidate = dbname(name[:60] + f"_{n}")
    return candidate


def drill_admin(source: BackupSource) -> pg.PgConn:
    """Where drills restore: PORTAL_DRILL_DATABASE_URL when set, else next to the source."""
    if settings.DRILL_DATABASE_URL:
        conn = pg.PgConn.parse(settings.DRILL_DATABASE_URL)
        return conn if conn.dbname else conn.with_db("postgres")
    return source.admin_conn()


def drill_postgres(ctx, store: S3Store, source: BackupSource) -> Drill:
    backup = source.latest_verified()
    if backup is None:
        ctx.log(f"{source}: no verified backup to drill")
        return Drill.objects.create(source=source, run=ctx.run, passed=False,
                                    detail="no verified backup to restore")
    admin = drill_admin(source)
    scratch = dbname(f"drill_{ctx.run.pk}_{source.name.replace('-', '_')}")
    figures = {"backup": backup.pk, "backup_created_at": backup.created_at.isoformat(),
               "tables_expected": len(backup.row_counts), "rows_expected": backup.total_rows,
               "bytes": backup.size, "raw_bytes": backup.raw_size,
               "target": "drill server" if settings.DRILL_DATABASE_URL else "source server"}
    ctx.log(f"{source}: restoring backup #{backup.pk} into {scratch} on the "
            f"{figures['target']}")
    passed, detail = False, ""
    try:
        res = bs.restore_to_scratch(admin, store, backup.key, scratch,
                                    encryption_key=source.key_bytes(),
                                    expected_sha256=backup.sha256,
                                    should_cancel=lambda: ctx.canceled)
        got = pg.table_row_counts(admin.with_db(scratch))
        problems = compare_counts(backup.row_counts, got)
        figures.update(tables_restored=len(got), rows_restored=sum(got.values()),
                       restore_seconds=round(res.duration, 2), mismatches=problems)
        passed = not problems
        detail = "tables and row counts match" if passed else "; ".join(problems[:20])
    except bs.BackupCancelled:
        raise Canceled() from None
    except (bs.BackupError, pg.PgError, S3Error) as exc:
        detail = str(exc)[:4000]
    finally:
        try:
            pg.drop_database(admin, scratch)
        except pg.PgError as exc:
            ctx.log(f"WARNING: could not drop the drill database {scratch}: {exc}")
    ctx.log(f"{source}: drill {'PASSED' if passed else 'FAILED'}: {detail}")
    return Drill.objects.create(source=source, backup=backup, run=ctx.run, passed=passed,
                                figures=figures, detail=detail)
