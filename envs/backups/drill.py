"""Restore drills (worker side): the latest verified backup of a source restored into a
scratch database (on PORTAL_DRILL_DATABASE_URL, or next to the source), its tables and row
counts compared with what was recorded at backup time, the figures kept, the scratch
database dropped."""

from __future__ import annotations

from django.conf import settings

from portal.lib import backup_stream as bs
from portal.lib import pg
from portal.lib.s3 import S3Error, S3Store
from portal.runs.engine import Canceled

from .models import BackupSource, Drill
from .restore import compare_counts, dbname


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
