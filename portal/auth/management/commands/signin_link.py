from django.conf import settings
from django.core.management.base import BaseCommand
from django.urls import reverse

from portal.audit.models import record
from portal.auth.models import SigninLink, owner_user


class Command(BaseCommand):
    help = "Print a one-time sign-in link for the owner (single use, valid 10 minutes)."

    def handle(self, *args, **options):
        user = owner_user()
        token = SigninLink.issue(user)
        record("signin_link.create", actor="shell", target="signin-link", user=user)
        url = settings.PUBLIC_URL + reverse("signin-link", args=[token])
        minutes = settings.SIGNIN_LINK_TTL // 60
        self.stdout.write(f"Sign in as {user.username} (single use, expires in {minutes} min):")
        self.stdout.write(url)
