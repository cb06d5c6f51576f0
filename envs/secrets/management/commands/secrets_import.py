"""Restore secrets from an encrypted bundle, in one transaction."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from envs.secrets.bundle import BundleError, bucket_store, import_payload, latest_bundle_key, unseal

from ._passphrase import passphrase


class Command(BaseCommand):
    help = ("Import secrets from an encrypted bundle (a file, or a key of the backup bucket; "
            "--bucket-key latest takes the newest).")

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="bundle file")
        parser.add_argument("--bucket-key", help="object key in the backup bucket, or 'latest'")
        parser.add_argument("--skip-missing", action="store_true",
                            help="skip secrets of environments this portal does not have")

    def handle(self, *args, file=None, bucket_key=None, skip_missing=False, **options):
        if bool(file) == bool(bucket_key):
            raise CommandError("give a bundle FILE or --bucket-key KEY (one of them)")
        if file:
            try:
                data = Path(file).read_bytes()
            except OSError as exc:
                raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        else:
            store = bucket_store()
            if store is None:
                raise CommandError("no backup bucket: set PORTAL_BACKUP_BUCKET")
            key = latest_bundle_key(store) if bucket_key == "latest" else bucket_key
            if key is None:
                raise CommandError(f"no bundle under s3://{store.bucket}/secrets/")
            data = store.get_bytes(key)
        try:
            payload = unseal(data, passphrase(confirm=False))
            counts = import_payload(payload, by="manage.py secrets_import",
                                    skip_missing=skip_missing)
        except BundleError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write("imported: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
