import os

from django.core.management.base import BaseCommand, CommandError

from envs.provisioning.models import StateSnapshot


class Command(BaseCommand):
    help = ("Write the errored.tfstate a failed apply left (kept encrypted by the portal) to a "
            "file readable only by you, to push it back with `terraform state push`.")

    def add_arguments(self, parser):
        parser.add_argument("env")
        parser.add_argument("--out", required=True, help="file to write (must not exist)")
        parser.add_argument("--clear", action="store_true",
                            help="forget the stored errored state (after a successful push)")

    def handle(self, env, out, clear, **options):
        snapshot = StateSnapshot.objects.filter(environment__name=env).first()
        data = snapshot.errored_state_bytes() if snapshot else None
        if data is None:
            raise CommandError(f"{env}: no errored state is stored")
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{out} exists; choose a new file") from None
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        self.stdout.write(f"wrote {out} (from run #{snapshot.errored_run_id}). It holds secrets "
                          "in clear: push it with `terraform state push` and delete it.")
        if clear:
            StateSnapshot.objects.filter(pk=snapshot.pk).update(errored_state=None)
            self.stdout.write("the stored errored state was cleared")
