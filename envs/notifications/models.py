"""Channels, the notifications events write, and one delivery per (notification, channel).

A Channel is one Apprise URL (encrypted, write-only: only ``display``, its scheme and host,
is ever shown). A Notification is written in the transaction of the state change that
caused it (a run's status change, a periodic check); its subject and body are already
redacted. A Delivery is what the worker does with it for one channel: ``queued`` ->
``sending`` -> ``sent``, or ``retrying`` (with backoff) -> ``failed``. Several deliveries of
one channel sent as one message share a ``batch``. EventState remembers the state behind
state events (drift detected until resolved) and the delivery kick.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from portal.lib.crypto import EncryptedTextField
from portal.runs.models import Run


class Event(models.TextChoices):
    RUN_FAILED = "run.failed"
    PLAN_READY = "plan.ready"
    APPLY_SUCCEEDED = "apply.succeeded"
    DEPLOY_SUCCEEDED = "deploy.succeeded"
    DEPLOY_ROLLED_BACK = "deploy.rolled_back"
    DRIFT_DETECTED = "drift.detected"
    DRIFT_RESOLVED = "drift.resolved"
    BACKUP_FAILED = "backup.failed"
    BACKUP_OVERDUE = "backup.overdue"
    BACKUP_SUSPICIOUS = "backup.suspicious"
    DRILL_FAILED = "drill.failed"
    SECRET_OVERDUE = "secret.overdue"
    RUN_STUCK = "run.stuck"
    DELIVERY_FAILING = "delivery.failing"
    PLATFORM_UNHEALTHY = "platform.unhealthy"  # raised by envs/platform's health check
    PLATFORM_RECOVERED = "platform.recovered"


# What the owner must act on (a new channel gets these plus plan.ready).
FAILURE_EVENTS = (
    Event.RUN_FAILED, Event.DEPLOY_ROLLED_BACK, Event.DRIFT_DETECTED, Event.BACKUP_FAILED,
    Event.BACKUP_OVERDUE, Event.BACKUP_SUSPICIOUS, Event.DRILL_FAILED, Event.SECRET_OVERDUE,
    Event.RUN_STUCK, Event.DELIVERY_FAILING, Event.PLATFORM_UNHEALTHY,
)
DEFAULT_EVENTS = [str(e) for e in FAILURE_EVENTS] + [str(Event.PLAN_READY)]
ALL = "*"
TEST_EVENT = "channel.test"  # a "Send test" message: logged like the others, no channel wants it


class Channel(models.Model):
    name = models.CharField(max_length=100, unique=True)
    url = EncryptedTextField(help_text="the Apprise URL; write-only")
    display = models.CharField(max_length=255, help_text="scheme and host, never more")
    events = models.JSONField(default=list, help_text='event names, or ["*"] for all')
    environments = models.JSONField(default=list, blank=True,
                                    help_text="environment names; empty: all")
    enabled = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, help_text="redacted")
    # The rate limit: messages sent in the minute that started at window_start.
    window_start = models.DateTimeField(null=True, blank=True)
    window_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.display})"

    def wants(self, event: str, environment: str) -> bool:
        if not self.enabled:
            return False
        if ALL not in self.events and event not in self.events:
            return False
        # Portal-wide events (no environment) reach every channel that wants the event.
        return not (environment and self.environments and environment not in self.environments)


class Notification(models.Model):
    event = models.CharField(max_length=40, db_index=True)
    environment = models.CharField(max_length=63, blank=True, db_index=True)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    link = models.CharField(max_length=500, blank=True)
    dedup_key = models.CharField(max_length=200, db_index=True)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["dedup_key", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.event}: {self.subject}"


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"


PENDING = (DeliveryStatus.QUEUED, DeliveryStatus.RETRYING)


class Delivery(models.Model):
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE,
                                     related_name="deliveries")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempted_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, help_text="redacted")
    sent_at = models.DateTimeField(null=True, blank=True)
    # The pass that holds it while sending, and the message it went out in (grouping).
    claim = models.CharField(max_length=32, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    batch = models.CharField(max_length=32, blank=True, db_index=True)
    batch_size = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["notification", "channel"],
                                               name="notifications_one_delivery_per_channel")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["channel", "attempted_at"]),
            models.Index(fields=["claim"]),
        ]

    def __str__(self) -> str:
        return f"delivery #{self.pk} of {self.notification_id} to {self.channel_id} ({self.status})"


class EventState(models.Model):
    """A remembered state: "drift:dev" -> "drifted", "kick" -> "pending"/"idle"."""

    key = models.CharField(max_length=200, unique=True)
    value = models.CharField(max_length=40)
    changed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.key} = {self.value}"
