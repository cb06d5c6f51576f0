from django.db import models


class Status(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    PLANNED = "planned"
    APPROVED = "approved"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    DISCARDED = "discarded"


ACTIVE = frozenset({Status.QUEUED, Status.RUNNING})
AWAITING = frozenset({Status.PLANNED})
TERMINAL = frozenset(set(Status) - ACTIVE - AWAITING)
