from django.core.management.base import BaseCommand

from envs.sync import sync


class Command(BaseCommand):
    help = "Register every folder of terraform/environments/ as an environment."

    def handle(self, *args, **options):
        created, existing, skipped = sync()
        for name in created:
            self.stdout.write(f"created {name}")
        for reason in skipped:
            self.stderr.write(f"skipped {reason}")
        self.stdout.write(f"{len(created)} created, {len(existing)} already registered")
