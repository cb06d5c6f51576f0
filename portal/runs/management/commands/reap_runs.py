from django.core.management.base import BaseCommand

from portal.runs.engine import reap


class Command(BaseCommand):
    help = "Fail runs whose worker died and free their locks (also runs every minute)."

    def add_arguments(self, parser):
        parser.add_argument("--startup", action="store_true",
                            help="also fail runs of dead worker processes on this host")

    def handle(self, *args, startup, **options):
        reaped = reap(startup=startup)
        self.stdout.write(f"reaped {len(reaped)} run(s){': ' if reaped else ''}"
                          + ", ".join(f"#{pk}" for pk in reaped))
