"""The audit log: append-only events for every sign-in, refusal, token change and run."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Outcome(models.TextChoices):
    SUCCESS = "success"
    FAILURE = "failure"
    REFUSED = "refused"
    SKIPPED = "skipped"
    INFO = "info"


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("audit events are append-only")

    def delete(self):
        raise PermissionError("audit events are append-only")


class AuditEvent(models.Model):
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor = models.CharField(max_length=150, help_text="who: a user, token or 'system'")
    action = models.CharField(max_length=64, db_index=True)
    target = models.CharField(max_length=255, blank=True, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, db_index=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["action", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit events are append-only")


def actor_of(user=None, token=None) -> str:
    if token is not None:
        return f"{getattr(user, 'username', '?')} (token {token.prefix})"
    if user is not None and getattr(user, "is_authenticated", False):
        return user.username
    return "system" if user is None else "anonymous"


def actor_from_request(request) -> str | None:
    """Who is acting: the signed-in owner's name, with the API token's prefix when the
    request came with one; None for an anonymous request. The one place this is derived."""
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    token = getattr(request, "auth", None)
    return actor_of(user, token if hasattr(token, "prefix") else None)


def record(
    action: str,
    *,
    outcome: str = Outcome.SUCCESS,
    target: str = "",
    user=None,
    actor: str | None = None,
    request=None,
    run=None,
    **detail,
) -> AuditEvent:
    """Write one audit event. ``detail`` must never carry a secret value (names only)."""
    token = None
    client_ip = None
    if request is not None:
        user = user if user is not None else getattr(request, "user", None)
        token = getattr(request, "auth", None)
        token = token if hasattr(token, "prefix") else None
        client_ip = getattr(request, "client_ip", None)
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    return AuditEvent.objects.create(
        user=user,
        actor=actor or (actor_of(user, token) if (user or token) else "system"),
        action=action,
        target=target[:255],
        outcome=outcome,
        client_ip=client_ip,
        detail=detail,
        run=run,
    )
