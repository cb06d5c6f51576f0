"""Write every secret into an encrypted bundle (format: envs/secrets/bundle.py)."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from envs.secrets.bundle import bucket_store, export_bytes, export_to_bucket
from portal.audit.models import record

from ._passphrase import passphrase


class Command(BaseCommand):
    help = "Export all secrets as an encrypted bundle to a file or to the backup bucket."

    def add_arguments(self, parser):
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument("--out", help="file to write (mode 0600); '-' for stdout")
        where.add_argument("--bucket", action="store_true",
                           help="write to the backup bucket under secrets/ (keeps the last 30)")

    def handle(self, *args, out=None, bucket=False, **options):
        secret = passphrase(confirm=True)
        if bucket:
            store = bucket_store()
            if store is None:
                raise CommandError("no backup bucket: set PORTAL_BACKUP_BUCKET (and "
                                   "PORTAL_S3_ENDPOINT_URL, AWS_* for an S3-compatible store)")
            key, count = export_to_bucket(store, secret)
            record("secrets.export", actor="manage.py", key=key, count=count)
            self.stdout.write(f"wrote {count} secrets to s3://{store.bucket}/{key}")
            return
        data, count = export_bytes(secret)
        if out == "-":
            self.stdout.buffer.write(data) if hasattr(self.stdout, "buffer") else \
                self.stdout.write(data.decode())
            return
        path = Path(out)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        record("secrets.export", actor="manage.py", file=str(path.name), count=count)
        self.stdout.write(f"wrote {count} secrets to {path} (encrypted)")
