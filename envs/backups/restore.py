"""Restoring a PostgreSQL backup (worker side).

The backup is restored into a new scratch database and checked against the row counts
recorded at backup time; then it is swapped in by renaming (the old database is kept), or,
where renaming is not possible, restored IN PLACE after a safety backup.

In place: the admin role may lack ownership of the live database (managed services often
keep it with a platform role), or the database may be held by sessions the admin may not
terminate. Then the restore, already verified in the scratch database, is made live so:

1. a fresh safety backup of the live database through the normal pipeline (recorded as a
   Backup with a ``reason``, verified by streaming it back);
2. ``pg_restore --clean --if-exists --no-owner --no-acl --single-transaction`` into the live
   database, committed only when the object's sha256 matched and every table has the row
   count recorded at backup time (see :func:`portal.lib.backup_stream.restore_in_place`);
   anything else rolls the whole transaction back;
3. the row counts are read again after the commit.
"""

from __future__ import annotations

from datetime import UTC, datetime

from portal.lib import backup_stream as bs
from portal.lib import pg
from portal.lib.s3 import S3Error, S3Store
from portal.runs.engine import Canceled, RunFailed

from .dump import backup_postgres, mib, verify_postgres
from .models import Backup


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
    renaming is not possible, restore in place after a safety backup (below)."""
    source = backup.source
    admin, live = source.admin_conn(), source.live_database
    scratch = dbname(f"{live}_restore_{ctx.run.pk}")
    try:
        blockers = pg.rename_blockers(admin, live)
        owner = in_place_role(ctx, admin, live) if blockers else \
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
            result = restore_in_place(ctx, store, backup, admin, live, blockers)
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


# --- in place -------------------------------------------------------------------------


def in_place_role(ctx, admin: pg.PgConn, live: str) -> str | None:
    """Who restored objects belong to: the role owning the live tables now (else the
    database owner), when the admin may act as it; otherwise the admin itself."""
    candidates = [pg.table_owner(admin.with_db(live)), pg.database_owner(admin, live)]
    for role in candidates:
        if role and pg.can_act_as(admin, role):
            return role
    ctx.log(f"WARNING: the admin role may act neither as {candidates[0]} (tables of {live}) "
            f"nor as {candidates[1]} (database owner); restored objects will belong to the "
            "admin role")
    return None


def _safety_backup(ctx, store: S3Store, backup: Backup, live: str) -> Backup:
    reason = (f"safety backup before in-place restore of backup #{backup.pk} "
              f"(run #{ctx.run.pk})")
    ctx.log(f"Taking a fresh safety backup of {live} before touching it")
    try:
        safety = backup_postgres(ctx, backup.source, store, reason=reason, tag="safety")
        verify_postgres(ctx, store, safety)
    except RunFailed as exc:
        raise RunFailed(f"the safety backup failed, so {live} was not touched: {exc}") from None
    ctx.log(f"Safety backup #{safety.pk} verified: s3://{store.bucket}/{safety.key} "
            f"({mib(safety.size)}, {safety.total_rows} rows). Restore it the same way if "
            "needed.")
    return safety


def restore_in_place(ctx, store: S3Store, backup: Backup, admin: pg.PgConn, live: str,
                     why: list[str]) -> dict:
    """Steps 1-3 above. The caller has verified ``backup`` in a scratch database already."""
    ctx.log("Path: IN-PLACE restore, because renaming is not possible: " + "; ".join(why))
    try:
        role = in_place_role(ctx, admin, live)
    except pg.PgError as exc:
        raise RunFailed(f"{backup.source}: {exc}. {live} was not touched") from None
    ctx.check_canceled()
    safety = _safety_backup(ctx, store, backup, live)
    ctx.check_canceled()
    where = f"the safety backup #{safety.pk} is s3://{store.bucket}/{safety.key}"
    ctx.log(f"Restoring in place into {live} (pg_restore --clean --if-exists "
            f"--single-transaction{f' as {role}' if role else ''}); it commits only if the "
            "checksum and every table's row count match, otherwise it rolls back")
    try:
        res = bs.restore_in_place(store, backup.key, admin.with_db(live),
                                  expected_counts=backup.row_counts, role=role,
                                  encryption_key=backup.source.key_bytes(),
                                  expected_sha256=backup.sha256,
                                  should_cancel=lambda: ctx.canceled)
    except bs.BackupCancelled:
        ctx.log(f"Canceled: the in-place restore was rolled back; {live} is as it was; {where}")
        raise Canceled() from None
    except (bs.BackupError, pg.PgError, S3Error) as exc:
        raise RunFailed(f"the in-place restore of {live} failed and was rolled back: {exc}. "
                        f"{live} is as it was; {where}") from None
    got = pg.table_row_counts(admin.with_db(live))
    extra = sorted(set(got) - set(backup.row_counts))
    problems = [p for p in compare_counts(backup.row_counts, got)
                if not p.startswith("unexpected table")]
    if extra:
        ctx.log(f"Note: tables not in the backup were left as they are: {', '.join(extra)}")
    if problems:  # the in-transaction check passed, so only sessions writing since can do this
        ctx.log("WARNING: after the commit the row counts already differ (sessions still "
                "connected have written): " + "; ".join(problems[:10]))
    else:
        ctx.log(f"Re-check passed: {len(backup.row_counts)} tables, "
                f"{sum(got[t] for t in backup.row_counts)} rows, as recorded at backup time")
    ctx.log(f"Done (in place). {where}.")
    return {"backup": backup.pk, "database": live, "path": "in_place", "kept_as": None,
            "safety_backup": safety.pk, "safety_key": safety.key,
            "tables": len(backup.row_counts), "rows": sum(got.get(t, 0) for t in backup.row_counts),
            "extra_tables": extra, "recheck_problems": problems,
            "restore_seconds": round(res.duration, 2)}
