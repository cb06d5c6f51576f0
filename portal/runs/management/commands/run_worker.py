from django.core.management import call_command
from django.core.management.base import BaseCommand

from portal.runs.engine import reap
from portal.runs.schedules import ensure_schedules


class Command(BaseCommand):
    help = "Start the run worker: reap runs of dead workers, ensure schedules, run django-q2."

    def handle(self, *args, **options):
        reaped = reap(startup=True)
        if reaped:
            self.stdout.write(f"reaped runs of dead workers: {reaped}")
        ensure_schedules()
        call_command("qcluster")
