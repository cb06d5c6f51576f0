"""What the portal last saw of the platform services, so pages render from the database.

One ServiceStatus per service (kubero, postgresql, ...): its state, since when it is not
ready, whether ``platform.unhealthy`` went out for it, and what the last read found
(workloads, volumes, images, health answer). One ClusterReach row: whether the cluster
answered, and since when it does not.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class State(models.TextChoices):
    READY = "ready"
    NOT_READY = "not_ready"
    ABSENT = "absent", "not installed"
    UNKNOWN = "unknown"


class ServiceStatus(models.Model):
    key = models.CharField(max_length=40, unique=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.UNKNOWN)
    not_ready_since = models.DateTimeField(null=True, blank=True)
    alerted = models.BooleanField(default=False, help_text="platform.unhealthy went out; "
                                  "platform.recovered is due once it is ready")
    detail = models.JSONField(default=dict, blank=True,
                              help_text="workloads, volumes, health: never secrets")
    checked_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key}: {self.state}"


class ClusterReach(models.Model):
    key = models.CharField(max_length=40, unique=True, default="platform")
    reachable = models.BooleanField(null=True)
    unreachable_since = models.DateTimeField(null=True, blank=True)
    last_ok_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="the client's message: no credentials")
    alerted = models.BooleanField(default=False)
    checked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key}: {'reachable' if self.reachable else 'unreachable'}"
