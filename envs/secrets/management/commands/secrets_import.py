"""Restore secrets from an encrypted bundle, in one transaction."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from envs.secrets import services
from envs.secrets.bundle import BundleError
from envs.secrets.export import bundle_from_bucket
from portal.errors import DomainError

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
        try:
            if file:
                try:
                    data = Path(file).read_bytes()
                except OSError as exc:
                    raise CommandError(f"cannot read {file}: {exc.strerror}") from None
            else:
                data = bundle_from_bucket(bucket_key)
            counts = services.import_bundle(data, passphrase(confirm=False),
                                            by="manage.py secrets_import",
                                            skip_missing=skip_missing)
        except (BundleError, DomainError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write("imported: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
