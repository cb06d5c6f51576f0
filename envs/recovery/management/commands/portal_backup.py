"""``manage.py portal_backup``: a self-backup now, as an audited run in this process.

``--pre-migrate`` (scripts/portal at start-up): only when migrations are pending on a
database that holds data, a backup taken and verified WITHOUT touching the ORM (the models
may be ahead of the tables); exit 1 with a clear message when it cannot be.
``--record-pre-migrate FILE`` (after migrate) records it; ``--note-skipped`` audits
``--skip-backup``."""

from __future__ import annotations

import getpass
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from envs.recovery import selfbackup, services
from envs.recovery.archive import RecoveryError
from envs.recovery.passphrase import passphrase
from envs.recovery.storage import storage
from portal.runs.choices import Status
from portal.runs.engine import execute_run


def pending_migrations() -> list[str]:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{m.app_label}.{m.name}" for m, _backwards in plan]


class Command(BaseCommand):
    help = "Take a self-backup of the portal (database + data-dir Terraform files) and verify it."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--pre-migrate", metavar="FILE", default="",
                            help="start-up mode: back up only if migrations are pending; "
                                 "write what was taken to FILE")
        parser.add_argument("--record-pre-migrate", metavar="FILE", default="")
        parser.add_argument("--note-skipped", action="store_true",
                            help="audit that the start-up skipped its pre-migrate backup")

    def handle(self, *args: Any, **opts: Any) -> None:
        actor = f"cli:{getpass.getuser()}"
        if opts["note_skipped"]:
            services.record_skipped_backup(actor, "scripts/portal --skip-backup")
            self.stdout.write("recorded: the pre-migrate self-backup was skipped (--skip-backup)")
            return
        if opts["record_pre_migrate"]:
            path = Path(opts["record_pre_migrate"])
            if path.exists():
                services.record_pre_migrate_backup(json.loads(path.read_text()), actor)
                path.unlink()
            return
        if opts["pre_migrate"]:
            self.pre_migrate(Path(opts["pre_migrate"]))
            return
        run = services.start_backup(actor=actor, enqueue=False)
        execute_run(run.pk)
        run.refresh_from_db()
        if run.status != Status.SUCCEEDED:
            raise CommandError(f"self-backup failed: {run.error} (run #{run.pk})", returncode=1)
        r = run.result
        self.stdout.write(f"self-backup {r['key']}: {r['size']} bytes, {r['rows']} rows in "
                          f"{r['tables']} tables, verified; in {run.elapsed or 0:.1f} s "
                          f"(run #{run.pk})")

    def pre_migrate(self, out: Path) -> None:
        tables = connection.introspection.table_names()
        if "django_migrations" not in tables:
            self.stdout.write("pre-migrate backup: a new database, nothing to back up")
            return
        pending = pending_migrations()
        if not pending:
            self.stdout.write("pre-migrate backup: no pending migrations")
            return
        self.stdout.write(f"pre-migrate backup: {len(pending)} migration(s) pending "
                          f"({', '.join(pending[:5])}{'...' if len(pending) > 5 else ''}); "
                          "backing up first")
        work = Path(tempfile.mkdtemp(prefix="restore-premigrate-", dir=settings.DATA_DIR))
        try:
            info = selfbackup.take(storage(), passphrase(), work, self.stdout.write,
                                   tag="pre-migrate")
        except (RecoveryError, OSError) as exc:
            raise CommandError(
                f"the pre-migrate self-backup failed, so nothing was migrated: {exc}. Fix "
                "it (the Recovery page, `manage.py portal_backup`), or start with "
                "--skip-backup to migrate without a backup (audited).", returncode=1) from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
        out.write_text(json.dumps(info))
        self.stdout.write(f"pre-migrate backup {info['key']} stored and verified")
