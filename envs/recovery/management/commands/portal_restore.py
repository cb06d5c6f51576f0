"""``manage.py portal_restore --latest | --key OBJECT [--dir DIR] [--force]``: bring the
portal back from a self-backup on a fresh machine.

1. find the object (the bucket from the environment, or ``--dir``); 2. refuse a database
that already holds data unless ``--force``; 3. download, decrypt and prove the archive whole
in a staging directory (wrong passphrase, damage, truncation: refused, nothing written);
4. load the database and the data-dir files; 5. compare every table's rows with the
manifest; 6. migrate (a backup of an older version); 7. check the secrets decrypt; print the
main tables beside the manifest and exit non-zero on any difference.
"""

from __future__ import annotations

import getpass
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from envs.recovery import restore, selfbackup
from envs.recovery.archive import RecoveryError
from envs.recovery.passphrase import passphrase
from envs.recovery.storage import storage
from portal.audit.models import record


class Command(BaseCommand):
    help = "Restore the portal's database and data files from a self-backup."

    def add_arguments(self, parser: Any) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--latest", action="store_true", help="the newest self-backup")
        which.add_argument("--key", help="one object (as `GET /api/portal/backups/` names it)")
        parser.add_argument("--dir", help="read self-backups from this directory instead of "
                                          "the bucket (a copied PORTAL_DATA_DIR/self-backups)")
        parser.add_argument("--force", action="store_true",
                            help="replace a database that already holds data")

    def handle(self, *args: Any, **opts: Any) -> None:
        started, changed = time.monotonic(), False
        try:
            store = storage(Path(opts["dir"]) if opts["dir"] else None)
            key = opts["key"]
            if opts["latest"]:
                latest = store.latest()
                if latest is None:
                    raise CommandError(f"no self-backup in {store.describe()}", returncode=2)
                key = latest.key
            self.stdout.write(f"Restoring {key} from {store.describe()}")
            self.refuse_if_data(opts["force"])
            phrase = settings.SELF_BACKUP_PASSPHRASE or passphrase(create=False)
            if not phrase:
                raise CommandError("PORTAL_SELF_BACKUP_PASSPHRASE is not set: take it from the "
                                   "recovery kit", returncode=2)
            staged = Path(tempfile.mkdtemp(prefix="restore-", dir=settings.DATA_DIR))
            try:
                manifest = selfbackup.stage(store, key, phrase, staged)
                self.stdout.write(f"Verified: backup of {manifest['created_at']} (portal "
                                  f"{manifest['portal_version']}, {manifest['engine']}, "
                                  f"{sum(manifest['counts'].values())} rows)")
                changed = True
                restore.load(staged, manifest)
                files = restore.restore_files(staged, Path(settings.DATA_DIR))
            finally:
                shutil.rmtree(staged, ignore_errors=True)
        except RecoveryError as exc:
            if changed:
                raise CommandError(f"restore failed while loading: {exc}", returncode=1) \
                    from None
            raise CommandError(f"refused, nothing was changed: {exc}", returncode=2) from None
        loaded = restore.counts()
        diff = restore.differences(manifest["counts"], loaded)
        restore.migrate()
        undecryptable = restore.secrets_decrypt()
        for line in restore.count_table(manifest, loaded):
            self.stdout.write(line)
        if files:
            self.stdout.write(f"data-dir files restored: {', '.join(files)}")
        elapsed = time.monotonic() - started
        record("portal.restored", target="portal", actor=f"cli:{getpass.getuser()}", key=key,
               backup_created_at=manifest["created_at"], differences=len(diff),
               undecryptable=undecryptable, seconds=round(elapsed, 1))
        if diff:
            raise CommandError("row counts differ from the backup's manifest:\n  "
                               + "\n  ".join(diff), returncode=1)
        if undecryptable:
            raise CommandError(
                "restored, but these encrypted values do not decrypt with "
                f"PORTAL_ENCRYPTION_KEYS: {', '.join(undecryptable)}. Use the keys from the "
                "recovery kit made with (or after) this backup.", returncode=1)
        self.stdout.write(f"Restored in {elapsed:.1f} s: every table has the backup's row count, "
                          "migrations applied, secrets decrypt. Start the portal (make run).")

    def refuse_if_data(self, force: bool) -> None:
        if "django_migrations" not in connection.introspection.table_names():
            return
        full = restore.holds_data()
        if full and not force:
            some = ", ".join(f"{t} ({n})" for t, n in sorted(full.items())[:5])
            raise CommandError(f"refused: this database already holds data ({some}); "
                               "restore into an empty database, or add --force to replace "
                               "it", returncode=2)
