"""Cancel of backup and restore runs mid-flight (through Run.request_cancel, as the UI/API
do), and the janitor at backup start. Real PostgreSQL, moto behind the fault proxy."""
# ruff: noqa: F811 - pytest fixtures imported from test_backups_runs are redefined as arguments

from __future__ import annotations

import time

from envs.backups import services
from envs.backups.models import Backup, BackupSource
from portal.lib import pg
from portal.lib.s3 import sidecar_key
from portal.runs.engine import execute_run
from portal.runs.models import Run
from tests.conftest import run_in_thread

from .test_backups_runs import (  # noqa: F401 - fixtures
    ADMIN,
    _pg_dump_children,
    _sql,
    _wait,
    bigsrc,
    env,
    keys,
    run_backup,
    run_text,
    source,
    srcdb,
)


def _big_source(env, bigsrc) -> BackupSource:
    return BackupSource.objects.create(environment=env, name="big", database_url=bigsrc.url,
                                       admin_url=ADMIN)


def test_cancel_mid_backup_aborts_the_upload_and_leaves_no_object(s3, s3srv, env,
                                                                   bigsrc):
    source = _big_source(env, bigsrc)
    s3srv.delay_upload_part(0.4)  # slow network: the cancel lands while parts are uploading
    run = services.start_backup(source)
    worker = run_in_thread(run.pk)
    try:
        _wait(lambda: s3.list_uploads(), what="the multipart upload")
        _wait(lambda: _pg_dump_children(), what="pg_dump")
        assert Run.objects.get(pk=run.pk).request_cancel(actor="tester")
    finally:
        worker.join(120)
        s3srv.clear_faults()
    run.refresh_from_db()
    assert run.status == "canceled", run_text(run)
    assert "multipart upload aborted" in run_text(run)
    assert keys(s3) == [] and s3.list_uploads() == []  # no object, no sidecar, no parts
    assert Backup.objects.count() == 0
    assert _pg_dump_children() == []
    # The snapshot transaction and pg_dump's session are gone from the source database.
    _wait(lambda: not _sql(ADMIN, "SELECT 1 FROM pg_stat_activity WHERE datname = %s",
                           bigsrc.name), what="source sessions to end")


def test_cancel_mid_restore_drops_scratch_and_leaves_live_untouched(s3, s3srv, env,
                                                                     bigsrc):
    source = _big_source(env, bigsrc)
    run = run_backup(source)
    assert run.status == "succeeded", run_text(run)
    backup = Backup.objects.get()
    pg.run_psql(bigsrc.admin_db, "DELETE FROM blobs WHERE id > 20000")
    live = bigsrc.checksums()
    s3srv.slow_get(backup.key, 0.03)  # ~5 s of download: the cancel lands mid-pg_restore
    restore = services.start_restore(backup, {})
    worker = run_in_thread(restore.pk)
    scratch = f"{bigsrc.name}_restore_{restore.pk}"
    try:
        _wait(lambda: _sql(ADMIN, "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND "
                                  "application_name = 'pg_restore'", scratch),
              what="pg_restore writing into the scratch database")
        assert Run.objects.get(pk=restore.pk).request_cancel(actor="tester")
    finally:
        worker.join(120)
        s3srv.clear_faults()
    restore.refresh_from_db()
    text = run_text(restore)
    assert restore.status == "canceled", text
    assert "scratch database was dropped" in text and "was not touched" in text
    assert bigsrc.related_databases() == [bigsrc.name]  # scratch gone, nothing renamed
    assert bigsrc.checksums() == live
    assert keys(s3) == sorted([backup.key, sidecar_key(backup.key)])


def test_backup_start_aborts_stale_uploads_of_its_source_only(s3, source, settings):
    mine = s3.client.create_multipart_upload(Bucket=s3.bucket, Key=source.prefix + "old.zst")
    other = "backups/other-env/db/old.zst"
    s3.client.create_multipart_upload(Bucket=s3.bucket, Key=other)
    # Uploads older than the backup timeout are dead. 3 s: still ample for this small backup.
    settings.BACKUP_TIMEOUT = 3
    time.sleep(3.2)  # moto stamps Initiated with the real clock
    run = services.start_backup(source)
    execute_run(run.pk)
    run.refresh_from_db()
    text = run_text(run)
    assert run.status == "succeeded", text
    assert f"Aborted a stale multipart upload of {source.prefix}old.zst" in text
    assert [u.key for u in s3.list_uploads()] == [other]  # another source's: not ours to touch
    assert mine["UploadId"]
