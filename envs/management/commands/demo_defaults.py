import secrets

from django.core.management.base import BaseCommand

from envs.models import Environment


class Command(BaseCommand):
    help = (
        "Give the offline `local` environment what it needs to plan on a bare machine: its "
        "`environment` variable and a random `api_token` secret variable, unless the owner "
        "has set them. `make run` calls this; it never touches other environments."
    )

    def handle(self, *args, **options):
        env = Environment.objects.filter(name="local").first()
        if env is None:
            self.stdout.write("no local environment (run envs_sync first)")
            return
        changed = []
        if "environment" not in (env.tf_variables or {}):
            env.tf_variables = {**(env.tf_variables or {}), "environment": "local"}
            changed.append("environment")
        if "api_token" not in env.secret_variables:
            # A fake token for the fake provider of the local stack, stored encrypted.
            env.secret_variables = {**env.secret_variables,
                                    "api_token": secrets.token_urlsafe(24)}
            changed.append("api_token (secret)")
        if changed:
            env.save()
        self.stdout.write(f"local environment: set {', '.join(changed)}" if changed
                          else "local environment: already configured")
