import argparse
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from portal.audit.models import record
from portal.auth.models import SCOPE_HELP, ApiToken, Scope, check_scope, owner_user


def _scope(value: str) -> str:
    try:
        return check_scope(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class Command(BaseCommand):
    help = "Create an API token for the owner. The token is the last line of the output."

    def add_arguments(self, parser):
        parser.add_argument("--scope", type=_scope, default=Scope.READ, help=SCOPE_HELP)
        parser.add_argument("--name", default="cli")
        parser.add_argument("--expires-days", type=int, default=None)

    def handle(self, *args, scope, name, expires_days, **options):
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be at least 1")
        expires = timezone.now() + timedelta(days=expires_days) if expires_days else None
        token, plaintext = ApiToken.issue(owner_user(), name, scope, expires)
        record("token.create", actor="shell", target=f"token:{token.prefix}", name=name,
               scope=scope)
        self.stdout.write(
            f"Created {scope} token {name!r} (prefix {token.prefix}); it is shown only once:"
        )
        self.stdout.write(plaintext)
