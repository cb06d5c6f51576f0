"""``manage.py recovery_kit``: print the recovery kit (keep it off the machine)."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from envs.recovery import kit, services


class Command(BaseCommand):
    help = ("Print every value a restore on a fresh machine needs, as NAME=value lines, and "
            "the restore commands. Keep the output off this machine.")

    def handle(self, *args: Any, **opts: Any) -> None:
        self.stdout.write(kit.text(timezone.localtime()), ending="")
        services.kit_printed(f"cli:{getpass.getuser()}")
