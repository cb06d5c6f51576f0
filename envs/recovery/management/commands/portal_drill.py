"""``manage.py portal_drill``: restore the newest self-backup into a scratch database,
migrate it, compare the counts, drop it (an audited run in this process)."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from envs.recovery import services
from portal.runs.choices import Status
from portal.runs.engine import execute_run


class Command(BaseCommand):
    help = "Drill a restore of the newest self-backup into a scratch database."

    def handle(self, *args: Any, **opts: Any) -> None:
        run = services.start_drill(actor=f"cli:{getpass.getuser()}", enqueue=False)
        execute_run(run.pk)
        run.refresh_from_db()
        if run.status != Status.SUCCEEDED:
            raise CommandError(f"portal drill failed: {run.error} (run #{run.pk})", returncode=1)
        self.stdout.write(f"portal drill passed: {run.result.get('detail')} "
                          f"({run.result.get('key')}, {run.elapsed or 0:.1f} s, run #{run.pk})")
