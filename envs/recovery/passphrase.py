"""The self-backup passphrase: ``PORTAL_SELF_BACKUP_PASSPHRASE``, or generated on first use
and kept (mode 0600) in ``PORTAL_DATA_DIR/self-backup.passphrase``. Never logged; the
recovery kit is the one place it is printed."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from django.conf import settings

from portal.lib.keys import ensure_file

FILE_NAME = "self-backup.passphrase"


def path() -> Path:
    return Path(settings.DATA_DIR) / FILE_NAME


def passphrase(create: bool = True) -> str:
    """The passphrase in effect; ``create=False`` returns "" instead of making one."""
    if settings.SELF_BACKUP_PASSPHRASE:
        return str(settings.SELF_BACKUP_PASSPHRASE)
    if not create and not path().exists():
        return ""
    return ensure_file(path(), lambda: secrets.token_urlsafe(32))


def source() -> str:
    """Where it comes from, for the page (never the value)."""
    if settings.SELF_BACKUP_PASSPHRASE:
        return "PORTAL_SELF_BACKUP_PASSPHRASE"
    return f"generated, in {path()}" if path().exists() else "generated on the first backup"


def keys_fingerprint() -> str:
    """A digest of every value the kit carries that can change (the encryption keys, the
    secret key, the passphrase): a kit downloaded under another fingerprint is out of date."""
    material = "\n".join([*settings.ENCRYPTION_KEYS, settings.SECRET_KEY,
                          passphrase(create=False)])
    return hashlib.sha256(material.encode()).hexdigest()[:16]
