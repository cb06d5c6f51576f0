"""What the GitHub integration keeps: every accepted webhook delivery (and what it did),
the pull requests it planned (with the one comment the portal edits in place), and the
outbox of statuses and comments still to post back to GitHub."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from portal.runs.models import Run


class Outcome(models.TextChoices):
    ACCEPTED = "accepted", "acted on"
    IGNORED = "ignored", "ignored"
    REFUSED = "refused", "refused"
    FAILED = "failed", "failed"


class Delivery(models.Model):
    """One webhook delivery GitHub sent (``X-GitHub-Delivery``); redeliveries are counted,
    never acted on again."""

    delivery_id = models.CharField(max_length=100, unique=True)
    event = models.CharField(max_length=50, db_index=True)
    action = models.CharField(max_length=50, blank=True)
    repository = models.CharField(max_length=200, blank=True, db_index=True)
    ref = models.CharField(max_length=255, blank=True, help_text="branch of a push")
    pr_number = models.PositiveIntegerField(null=True, blank=True)
    head_sha = models.CharField(max_length=64, blank=True)
    sender = models.CharField(max_length=100, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, db_index=True)
    detail = models.TextField(blank=True, help_text="what was done, or why not")
    runs = models.JSONField(default=list, blank=True, help_text="ids of the runs it started")
    redeliveries = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.event} {self.delivery_id} ({self.outcome})"

    @property
    def pr_label(self) -> str:
        return f"#{self.pr_number}" if self.pr_number else ""


class PullState(models.TextChoices):
    OPEN = "open"
    CLOSED = "closed"


class PullRequest(models.Model):
    """A pull request on an environment's repository the portal heard of."""

    repository = models.CharField(max_length=200)
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=300, blank=True)
    url = models.CharField(max_length=500, blank=True)
    head_sha = models.CharField(max_length=64)
    head_ref = models.CharField(max_length=255, blank=True)
    base_ref = models.CharField(max_length=255, blank=True)
    author_login = models.CharField(max_length=100, blank=True)
    author_id = models.BigIntegerField(null=True, blank=True)
    same_repository = models.BooleanField(default=True, help_text="false for a fork's PR")
    state = models.CharField(max_length=10, choices=PullState.choices, default=PullState.OPEN)
    # Why no plan ran (a stranger's PR, a fork): said once in the comment.
    not_planned_reason = models.TextField(blank=True)
    comment_id = models.BigIntegerField(null=True, blank=True,
                                        help_text="the portal's one comment on it")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["repository", "number"],
                                               name="github_pull_unique")]

    def __str__(self) -> str:
        return f"{self.repository}#{self.number}"


class PostKind(models.TextChoices):
    STATUS = "status"
    COMMENT = "comment"


class PostState(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SUPERSEDED = "superseded"


class Post(models.Model):
    """The outbox: a commit status or a refresh of a PR's comment, written in the
    transaction that decided it and sent by the worker afterwards (retried with backoff).
    A comment's body is rendered when it is sent, from what the portal knows then."""

    kind = models.CharField(max_length=10, choices=PostKind.choices)
    repository = models.CharField(max_length=200)
    sha = models.CharField(max_length=64, blank=True)
    context = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=10, blank=True, help_text="status state")
    description = models.CharField(max_length=200, blank=True)
    target_url = models.CharField(max_length=500, blank=True)
    pull = models.ForeignKey(PullRequest, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="posts")
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="+")
    delivery = models.ForeignKey(Delivery, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="posts")
    status = models.CharField(max_length=10, choices=PostState.choices,
                              default=PostState.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        what = self.context if self.kind == PostKind.STATUS else f"comment on {self.pull}"
        return f"{self.kind} {what} ({self.status})"
