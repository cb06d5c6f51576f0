"""The recovery kit: every value a restore on a fresh machine needs, and nothing else, as
``NAME=value`` lines with the portal's own variable names, then the restore commands as
comments. Printed by ``manage.py recovery_kit``; downloaded from the Recovery page."""

from __future__ import annotations

import socket
from datetime import datetime

from django.conf import settings
from django.db import connection

from .passphrase import passphrase


def text(now: datetime) -> str:
    lines = [
        f"# EaaS Portal recovery kit for {socket.gethostname()}, made {now:%Y-%m-%d %H:%M %Z}.",
        "# Keep it OFF this machine (a password manager, paper in a safe). Whoever holds it",
        "# and the self-backups can read every secret of the portal.",
        "",
        f"PORTAL_ENCRYPTION_KEYS={','.join(settings.ENCRYPTION_KEYS)}",
        f"PORTAL_SECRET_KEY={settings.SECRET_KEY}",
        f"PORTAL_SELF_BACKUP_PASSPHRASE={passphrase()}",
    ]
    if settings.BACKUP_BUCKET:
        lines += [
            f"PORTAL_BACKUP_BUCKET={settings.BACKUP_BUCKET}",
            f"PORTAL_S3_ENDPOINT_URL={settings.S3_ENDPOINT_URL}",
            f"PORTAL_SELF_BACKUP_PREFIX={settings.SELF_BACKUP_PREFIX}",
            f"AWS_DEFAULT_REGION={settings.AWS_DEFAULT_REGION}",
            "# The bucket's credentials come from this portal's environment, not from the",
            "# portal: supply them on the new machine too (read access is enough to restore):",
            "# AWS_ACCESS_KEY_ID=",
            "# AWS_SECRET_ACCESS_KEY=",
        ]
    else:
        lines += [
            "# No PORTAL_BACKUP_BUCKET: the self-backups are in PORTAL_DATA_DIR/self-backups/",
            "# of THIS machine only. Copy that directory off the machine, or set a bucket.",
        ]
    if connection.vendor == "postgresql":
        lines += ["# This portal uses PostgreSQL: give the new machine an EMPTY database:",
                  "# DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/DBNAME"]
    else:
        lines += ["# This portal uses the embedded SQLite database: leave DATABASE_URL unset."]
    where = "--latest" if settings.BACKUP_BUCKET else "--latest --dir /path/to/self-backups"
    lines += [
        "",
        "# Restore on a fresh machine (README: 'Disaster recovery'):",
        "#   git clone <this portal's repository> eaas-portal && cd eaas-portal",
        "#   put the lines above into .env (and the variables named above), then:",
        "#   set -a; . ./.env; set +a",
        "#   make setup",
        f"#   .venv/bin/python manage.py portal_restore {where}",
        "#   make run",
        "# portal_restore prints the row counts beside the backup's and exits non-zero on",
        "# any difference. Any older kit is out of date once the keys are rotated.",
    ]
    return "\n".join(lines) + "\n"
