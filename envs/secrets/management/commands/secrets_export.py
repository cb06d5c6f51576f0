"""Write every secret into an encrypted bundle (format: envs/secrets/bundle.py)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from envs.secrets import services
from envs.secrets.bundle import export_bytes
from portal.errors import DomainError

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
            try:
                name, key, count = services.export_to_bucket(secret, actor="manage.py")
            except DomainError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"wrote {count} secrets to s3://{name}/{key}")
            return
        if out == "-":
            data, count = export_bytes(secret)
            self.stdout.buffer.write(data) if hasattr(self.stdout, "buffer") else \
                self.stdout.write(data.decode())
            return
        path = Path(out)
        count = services.export_to_file(path, secret, actor="manage.py")
        self.stdout.write(f"wrote {count} secrets to {path} (encrypted)")
