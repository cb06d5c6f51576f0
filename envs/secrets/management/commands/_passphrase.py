"""The export passphrase: PORTAL_SECRETS_EXPORT_PASSPHRASE (or _FILE), else a prompt."""

from __future__ import annotations

import getpass
import sys

from django.core.management.base import CommandError

from envs.secrets.export import passphrase_configured


def passphrase(confirm: bool) -> str:
    value = passphrase_configured()
    if value:
        return value
    if not sys.stdin.isatty():
        raise CommandError("no passphrase: set PORTAL_SECRETS_EXPORT_PASSPHRASE (or _FILE), "
                           "or run in a terminal to be asked")
    value = getpass.getpass("Passphrase: ")
    if confirm and getpass.getpass("Repeat the passphrase: ") != value:
        raise CommandError("the passphrases differ")
    if len(value) < 12:
        raise CommandError("use a passphrase of at least 12 characters")
    return value
