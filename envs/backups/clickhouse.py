"""ClickHouse backups (SigNoz's store) with ClickHouse's own ``BACKUP ... TO S3(...)``.

ClickHouse writes the backup itself, straight into the bucket under
``backups/<env>/<source>/<stamp>-run<id>.clickhouse/`` (so ClickHouse must reach the same
S3 endpoint as the worker). A backup run counts the rows of every table, runs BACKUP,
lists the backup's objects in the bucket (its ``.backup`` metadata file must be there),
then proves it readable: RESTORE into scratch databases ``<db>_verify_run<id>``, compare
every table's row count with the counts taken before and after the backup (a table that
is being written to may gain rows while BACKUP runs), and drop the scratch databases.
An owner's restore goes into NEW databases ``<db>_restored_run<id>``: never over the live
ones; swapping is a manual ``EXCHANGE TABLES`` (README). Retention deletes a backup's
whole folder from the bucket.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.utils import timezone

from portal.lib.clickhouse import ClickHouse, ClickHouseConn, ClickHouseError, S3Target
from portal.lib.s3 import S3Error, S3Store
from portal.runs.engine import Canceled, RunFailed

from . import retention
from .models import Backup, BackupSource, Verification

METADATA = ".backup"  # the file ClickHouse writes last, listing every file of the backup


def _client(source: BackupSource) -> ClickHouse:
    try:
        return ClickHouse(ClickHouseConn.parse(source.database_url or ""))
    except ClickHouseError as exc:
        raise RunFailed(str(exc)) from None


def target(key: str) -> S3Target:
    return S3Target.in_bucket(
        bucket=settings.BACKUP_BUCKET, key=key, endpoint_url=settings.S3_ENDPOINT_URL or None,
        region=settings.AWS_DEFAULT_REGION or "us-east-1",
        access_key=settings.AWS_ACCESS_KEY_ID or "",
        secret_key=settings.AWS_SECRET_ACCESS_KEY or "")


def _wait(ctx, ch: ClickHouse, op_id: str, what: str):
    try:
        st = ch.wait(op_id, timeout=settings.BACKUP_TIMEOUT, interval=1.0, sleep=ctx.wait)
    except ClickHouseError as exc:
        if ctx.canceled:
            raise Canceled() from None
        raise RunFailed(f"{what}: {ctx.redactor(str(exc))}") from None
    if not st.ok:
        raise RunFailed(f"{what} ended {st.status}: {ctx.redactor(st.error)[:1500]}")
    return st


def _run(ctx, fn, *args):
    try:
        return fn(*args)
    except ClickHouseError as exc:
        raise RunFailed(f"ClickHouse: {ctx.redactor(str(exc))}") from None


def backup_clickhouse(ctx, source: BackupSource, store: S3Store) -> Backup:
    start = time.monotonic()
    ch = _client(source)
    key = source.new_key(ctx.run.pk)
    tgt = target(key)
    ctx.secret(tgt.secret_key)
    try:
        version = _run(ctx, ch.version)
        present = set(_run(ctx, ch.databases))
        missing = [d for d in source.databases if d not in present]
        if missing:
            raise RunFailed(f"ClickHouse {ch.conn.describe()} has no database "
                            f"{', '.join(missing)}")
        before = _run(ctx, ch.row_counts, source.databases)
        ctx.log(f"ClickHouse {version} at {ch.conn.describe()}: {len(before)} tables, "
                f"{sum(before.values())} rows in {', '.join(source.databases)}")
        ctx.log(f"BACKUP ... TO S3 s3://{store.bucket}/{key}/")
        op = _run(ctx, ch.start_backup, source.databases, tgt)
        st = _wait(ctx, ch, op, "BACKUP")
        after = _run(ctx, ch.row_counts, source.databases)
        ctx.log(f"BACKUP_CREATED: {st.num_files} files, {st.total_size} bytes")
        backup = Backup.objects.create(
            source=source, run=ctx.run, key=key, snapshot=op, size=st.total_size,
            raw_size=st.uncompressed_size, sha256="", tool_version=f"clickhouse {version}",
            server_version=version, duration=time.monotonic() - start, row_counts=before)
        problem = _verify(ctx, ch, store, source, backup, tgt, before, after)
    finally:
        ch.close()
    if problem:
        Backup.objects.filter(pk=backup.pk).update(verification=Verification.FAILED,
                                                   verify_detail=problem[:2000])
        raise RunFailed(f"verification of backup #{backup.pk} failed: {problem}")
    if not before:
        Backup.objects.filter(pk=backup.pk).update(flagged="empty: no tables")
    backup.refresh_from_db()
    return backup


def _verify(ctx, ch: ClickHouse, store: S3Store, source: BackupSource, backup: Backup,
            tgt: S3Target, before: dict[str, int], after: dict[str, int]) -> str:
    """'' when the backup is listed in the bucket and restores with the right row counts."""
    try:
        objects = list(store.list(backup.key + "/"))
    except S3Error as exc:
        return f"cannot list the backup in the bucket: {exc}"
    names = {o.key[len(backup.key) + 1:] for o in objects}
    if METADATA not in names:
        return f"the bucket holds no {METADATA} under {backup.key}/ ({len(objects)} objects)"
    ctx.log(f"Listed: {len(objects)} objects, {sum(o.size for o in objects)} bytes in the "
            "bucket")
    renames = {d: f"{d}_verify_run{ctx.run.pk}" for d in source.databases}
    try:
        ctx.log("RESTORE into " + ", ".join(renames.values()) + " (dropped afterwards)")
        _wait(ctx, ch, _run(ctx, ch.start_restore, renames, tgt), "verification RESTORE")
        restored = _run(ctx, ch.row_counts, list(renames.values()))
    finally:
        for name in renames.values():
            try:
                ch.drop_database(name)
            except ClickHouseError as exc:
                ctx.log(f"WARNING: could not drop {name}: {ctx.redactor(str(exc))}")
    back = {renames[k.split(".", 1)[0]] + "." + k.split(".", 1)[1]: k for k in before}
    mismatches = []
    for name, original in sorted(back.items()):
        got = restored.get(name)
        low, high = before[original], after.get(original, before[original])
        if got is None:
            mismatches.append(f"{original}: missing")
        elif not min(low, high) <= got <= max(low, high):
            mismatches.append(f"{original}: {got} rows restored, {low} before / {high} after")
    extra = sorted(set(restored) - set(back))
    if mismatches:
        return "row counts differ: " + "; ".join(mismatches[:20])
    detail = (f"{len(objects)} objects listed ({METADATA} present); restored {len(restored)} "
              f"tables, {sum(restored.values())} rows: every table's count as at backup time")
    if extra:
        detail += f"; tables created during the backup: {', '.join(extra[:10])}"
    Backup.objects.filter(pk=backup.pk).update(
        verification=Verification.VERIFIED, verified_at=timezone.now(), verify_detail=detail,
        row_counts={k: restored[n] for n, k in back.items()})
    ctx.log(f"Verified: {detail}")
    return ""


def restore_clickhouse(ctx, backup: Backup) -> dict:
    """RESTORE into new databases ``<db>_restored_run<id>``; the live ones are untouched."""
    source = backup.source
    ch = _client(source)
    tgt = target(backup.key)
    ctx.secret(tgt.secret_key)
    renames = {d: f"{d}_restored_run{ctx.run.pk}" for d in
               sorted({k.split(".", 1)[0] for k in backup.row_counts} or set(source.databases))}
    try:
        ctx.log("RESTORE " + ", ".join(f"{a} AS {b}" for a, b in renames.items())
                + f" FROM s3://{settings.BACKUP_BUCKET}/{backup.key}/")
        _wait(ctx, ch, _run(ctx, ch.start_restore, renames, tgt), "RESTORE")
        restored = _run(ctx, ch.row_counts, list(renames.values()))
    finally:
        ch.close()
    wrong = []
    for table, rows in backup.row_counts.items():
        db, name = table.split(".", 1)
        got = restored.get(f"{renames.get(db, db)}.{name}")
        if got != rows:
            wrong.append(f"{table}: {got} restored, {rows} recorded")
    if wrong:
        raise RunFailed("the restored databases are kept for inspection, but row counts "
                        "differ: " + "; ".join(wrong[:20]))
    ctx.log(f"Restored {len(restored)} tables, {sum(restored.values())} rows into "
            f"{', '.join(renames.values())}; the live databases were not touched. Swap a "
            "table in with EXCHANGE TABLES (see the README).")
    return {"path": "new_databases", "databases": renames, "kept_as": "",
            "tables": len(restored)}


def apply_retention(ctx, source: BackupSource, store: S3Store) -> dict:
    """The policy of retention.plan; a doomed backup's whole folder leaves the bucket."""
    now = timezone.now()
    live = list(source.backups.filter(deleted_at__isnull=True))
    doomed = retention.plan(live, retention.Policy.of(source), now)
    ctx.log(f"Retention for {source}: {source.retention_text()}; {len(live)} backups "
            f"recorded, {len(doomed)} to delete.")
    deleted = []
    for b in doomed:
        keys = [o.key for o in store.list(b.key + "/")]
        if keys:
            store.delete_many(keys)
        Backup.objects.filter(pk=b.pk, deleted_at__isnull=True).update(
            deleted_at=now, deleted_reason=f"retention: {source.retention_text()}")
        deleted.append(b.key)
        ctx.log(f"  deleted {b.key}/ ({len(keys)} objects, backup #{b.pk})")
    return {"deleted": deleted, "unknown": [], "missing": [], "kept": len(live) - len(deleted)}
