"""API tokens, one-time sign-in links and sign-in failures (for rate limiting)."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

TOKEN_PREFIX = "eaas_"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Scope(models.TextChoices):
    READ = "read", "read (GET only)"
    WRITE = "write", "write (may start runs and change things)"


# deploy:<env> (e.g. deploy:dev): may start deploys in that environment and read runs,
# nothing else (portal.auth.api.OwnerScopePermission). For an app repository's CI.
DEPLOY_PREFIX = "deploy:"
_ENV_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
SCOPE_HELP = "read, write, or deploy:<environment> (starts deploys there, reads runs)"


def check_scope(value: str) -> str:
    """A valid scope, normalised; ValueError naming what is wrong."""
    value = (value or "").strip()
    if value in Scope.values:
        return value
    if value.startswith(DEPLOY_PREFIX) and _ENV_NAME.match(value[len(DEPLOY_PREFIX):]):
        return value
    raise ValueError(f"unknown scope {value[:80]!r}: expected {SCOPE_HELP}")


def deploy_environment(scope: str) -> str | None:
    """The environment of a deploy:<env> scope, None for read and write."""
    return scope[len(DEPLOY_PREFIX):] if scope.startswith(DEPLOY_PREFIX) else None


class ApiToken(models.Model):
    """A bearer token for scripts. Only its sha256 is stored; the prefix identifies it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=80, default=Scope.READ, help_text=SCOPE_HELP)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.scope})"

    @classmethod
    def issue(cls, user, name: str, scope: str, expires_at=None) -> tuple[ApiToken, str]:
        """Create a token; the plaintext is returned once and never stored."""
        scope = check_scope(scope)
        prefix = secrets.token_hex(4)
        plaintext = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        token = cls.objects.create(
            user=user,
            name=name,
            prefix=prefix,
            digest=_digest(plaintext),
            scope=scope,
            expires_at=expires_at,
        )
        return token, plaintext

    @classmethod
    def find(cls, plaintext: str) -> ApiToken | None:
        if not plaintext.startswith(TOKEN_PREFIX):
            return None
        token = cls.objects.select_related("user").filter(digest=_digest(plaintext)).first()
        if token is None or not token.usable:
            return None
        return token

    @property
    def usable(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    def touch(self) -> None:
        # One write a minute at most: a busy script must not turn every GET into a write.
        now = timezone.now()
        if self.last_used_at is None or now - self.last_used_at > timedelta(seconds=60):
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now

    def revoke(self) -> bool:
        updated = ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        return bool(updated)


class SigninLink(models.Model):
    """A single-use sign-in link for machines without a GitHub app configured."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    @classmethod
    def issue(cls, user) -> str:
        plaintext = secrets.token_urlsafe(32)
        cls.objects.create(
            user=user,
            digest=_digest(plaintext),
            expires_at=timezone.now() + timedelta(seconds=settings.SIGNIN_LINK_TTL),
        )
        return plaintext

    @classmethod
    def peek(cls, plaintext: str) -> SigninLink | None:
        link = cls.objects.filter(digest=_digest(plaintext)).first()
        if link is None or link.used_at or link.expires_at <= timezone.now():
            return None
        return link

    @classmethod
    def redeem(cls, plaintext: str):
        """Mark the link used (compare-and-set) and return its user, or None."""
        with transaction.atomic():
            updated = cls.objects.filter(
                digest=_digest(plaintext), used_at__isnull=True, expires_at__gt=timezone.now()
            ).update(used_at=timezone.now())
            if not updated:
                return None
            return cls.objects.select_related("user").get(digest=_digest(plaintext)).user


def client_group(client_ip: str | None) -> str:
    """What failures are counted by: an IPv4 address, an IPv6 /64 (one subscriber's prefix:
    rotating addresses inside it gains nothing), or "unknown" for a request without an
    address (all of those share one budget instead of having none)."""
    if not client_ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return "unknown"
    if address.version == 6:
        if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d is that IPv4 client
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class SigninFailure(models.Model):
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    client_group = models.CharField(max_length=50, db_index=True, default="unknown")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    reason = models.CharField(max_length=100)

    def save(self, *args, **kwargs):
        self.client_group = client_group(self.client_ip)
        super().save(*args, **kwargs)

    @classmethod
    def too_many(cls, client_ip: str | None) -> bool:
        since = timezone.now() - timedelta(seconds=settings.SIGNIN_FAILURE_WINDOW)
        recent = cls.objects.filter(client_group=client_group(client_ip), at__gte=since).count()
        return recent >= settings.SIGNIN_FAILURE_LIMIT


def owner_user():
    """The portal's one local user account (created on first use)."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    user = User.objects.filter(is_superuser=True).order_by("pk").first()
    if user is None:
        user = User.objects.create(username="owner", is_staff=True, is_superuser=True)
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user
