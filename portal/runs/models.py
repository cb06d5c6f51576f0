"""Run, RunLine and Lock: the source of truth for every action the portal takes."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from portal.audit.models import Outcome, actor_from_request, record
from portal.errors import DomainError

from . import kinds
from .choices import ACTIVE, AWAITING, TERMINAL, Status
from .signals import announce


class LockHeld(DomainError):
    """The lock is taken: the API answers 409 naming the holder and its URL."""

    code = "locked"
    status = 409

    def __init__(self, key: str, holder: Run | None):
        self.key = key
        self.holder = holder
        if holder is not None:
            who = f"run #{holder.pk} ({holder.kind}, {holder.status}, started by {holder.actor})"
        else:
            who = "another run"
        super().__init__(
            detail=f"{key} is held by {who}", lock=key,
            run=holder.pk if holder else None,
            run_url=f"/api/runs/{holder.pk}/" if holder else None,
        )


class Run(models.Model):
    kind = models.CharField(max_length=40, db_index=True)
    target = models.CharField(max_length=255, db_index=True, blank=True)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    params = models.JSONField(default=dict, blank=True, help_text="never secrets")
    result = models.JSONField(default=dict, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor = models.CharField(max_length=150, default="system")
    scheduled = models.BooleanField(default=False)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    lock_key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    canceled_by = models.CharField(max_length=150, blank=True)
    worker = models.CharField(max_length=100, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    line_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["target", "-created_at"]),
            models.Index(fields=["kind", "-created_at"]),
            models.Index(fields=["status", "heartbeat_at"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.target} ({self.status})"

    # --- state --------------------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def is_awaiting(self) -> bool:
        return self.status in AWAITING

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def log_finished(self) -> bool:
        # The job frame flushes every line before it leaves ACTIVE, so a status outside
        # ACTIVE means the log is complete.
        return self.status not in ACTIVE

    @property
    def elapsed(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return max(0.0, (end - self.started_at).total_seconds())

    @property
    def queue_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.started_at - self.created_at).total_seconds()

    @property
    def kind_label(self) -> str:
        try:
            return kinds.get(self.kind).label
        except LookupError:
            return self.kind

    def kind_links(self) -> list[tuple[str, str]]:
        try:
            spec = kinds.get(self.kind)
        except LookupError:
            return []
        return list(spec.links(self)) if spec.links else []

    def waiting_for_worker(self) -> str | None:
        """Why a queued run has not started, when the answer is "no free worker"."""
        if self.status != Status.QUEUED:
            return None
        busy = Run.objects.filter(status=Status.RUNNING).count()
        if busy >= settings.RUN_WORKERS:
            return f"waiting for a free worker ({busy} of {settings.RUN_WORKERS} busy)"
        return None

    # --- starting -----------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        kind: str,
        *,
        target: str = "",
        user=None,
        actor: str | None = None,
        params: dict | None = None,
        lock_key: str = "",
        parent: Run | None = None,
        scheduled: bool = False,
        request=None,
        enqueue: bool = True,
    ) -> Run | None:
        """Create a queued run, take its lock, audit it and enqueue it after commit.

        Raises LockHeld when the lock is taken. A scheduled run that finds its lock held is
        not created: an audit event says it was skipped and None is returned. With
        ``enqueue=False`` the caller runs it in its own process (a management command).
        """
        spec = kinds.get(kind)
        if request is not None:
            user = user or request.user
            actor = actor or actor_from_request(request)
        actor = actor or (user.username if user is not None else "system")
        try:
            with transaction.atomic():
                run = cls.objects.create(
                    kind=spec.name,
                    target=target,
                    user=user if user is not None and user.is_authenticated else None,
                    actor=actor,
                    params=params or {},
                    lock_key=lock_key,
                    parent=parent,
                    scheduled=scheduled,
                )
                if lock_key:
                    Lock.acquire(lock_key, run)
                record(
                    "run.start",
                    target=target,
                    user=run.user,
                    actor=actor,
                    request=request,
                    run=run,
                    kind=kind,
                    scheduled=scheduled,
                )
                if enqueue:
                    transaction.on_commit(lambda: _enqueue(run.pk, spec.timeout))
        except LockHeld as held:
            if not scheduled:
                raise
            record(
                "schedule.skipped",
                outcome=Outcome.SKIPPED,
                target=target,
                actor="scheduler",
                kind=kind,
                reason=str(held),
                holder=held.holder.pk if held.holder else None,
            )
            return None
        return run

    # --- cancel -------------------------------------------------------------------------
    def request_cancel(self, user=None, actor: str = "", request=None) -> bool:
        """Save the cancel flag first; a queued run is canceled at once, a running one by
        its worker's watcher within half a second. Returns False if already finished."""
        actor = actor or (actor_from_request(request) if request else None) or "system"
        now = timezone.now()
        flagged = Run.objects.filter(
            pk=self.pk, status__in=ACTIVE, cancel_requested_at__isnull=True
        ).update(cancel_requested_at=now, canceled_by=actor)
        self.refresh_from_db()
        if not flagged and (self.cancel_requested_at is None or self.status not in ACTIVE):
            return False  # nothing to cancel: finished (or never asked and not active)
        with transaction.atomic():  # ended and unlocked in one commit, as the engine does
            canceled = Run.objects.filter(pk=self.pk, status=Status.QUEUED).update(
                status=Status.CANCELED, finished_at=now,
                error=f"canceled by {actor} before it started")
            if canceled:
                Lock.release_for(self)
                self.refresh_from_db()
                announce(self, Status.QUEUED)
        if canceled:
            record("run.end", outcome=Outcome.INFO, target=self.target, actor=actor, run=self,
                   kind=self.kind, status=self.status)
        if flagged:
            record("run.cancel", target=self.target, user=user, actor=actor, request=request,
                   run=self, kind=self.kind)
        return True

    def transition(self, from_status, to_status, **fields) -> bool:
        """Compare-and-set status change; True when this call made it."""
        with transaction.atomic():
            updated = Run.objects.filter(pk=self.pk, status=from_status).update(
                status=to_status, **fields
            )
            if updated:
                self.refresh_from_db()
                announce(self, from_status)
        return bool(updated)


class RunLine(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="lines")
    seq = models.PositiveIntegerField()
    ts = models.DateTimeField()
    text = models.TextField()

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="runline_seq_unique")]


class Lock(models.Model):
    """A row per held lock. The unique key makes two holders impossible in the database."""

    key = models.CharField(max_length=200, primary_key=True)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="locks")
    acquired_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.key} held by run #{self.run_id}"

    @classmethod
    def acquire(cls, key: str, run: Run) -> Lock:
        for _attempt in range(2):
            try:
                with transaction.atomic():
                    return cls.objects.create(key=key, run=run)
            except IntegrityError:
                holder = Run.objects.filter(locks__key=key).first()
                if holder is not None and holder.status in ACTIVE:
                    raise LockHeld(key, holder) from None
                # A lock left by a run that is no longer active is stale: take it over.
                cls.objects.filter(key=key).exclude(run__status__in=ACTIVE).delete()
        raise LockHeld(key, Run.objects.filter(locks__key=key).first())

    @classmethod
    def release_for(cls, run: Run) -> int:
        deleted, _ = cls.objects.filter(run=run).delete()
        return deleted

    @classmethod
    def holder(cls, key: str) -> Run | None:
        lock = cls.objects.select_related("run").filter(key=key).first()
        return lock.run if lock else None


def _enqueue(run_id: int, timeout: int | None = None) -> None:
    from django_q.tasks import async_task

    options: dict[str, str | int] = {"task_name": f"run-{run_id}", "group": "runs"}
    if timeout:
        options["timeout"] = timeout
    Run.objects.filter(pk=run_id).update(enqueued_at=timezone.now())
    async_task("portal.runs.engine.execute_run", run_id, q_options=options)


def requeue(run: Run) -> None:
    """Hand a queued run to the task queue again (a second copy is harmless: the worker
    that comes second finds it no longer queued and does nothing)."""
    try:
        timeout = kinds.get(run.kind).timeout
    except LookupError:
        timeout = None
    _enqueue(run.pk, timeout)


def latest_runs(targets, per_target: int = 1) -> dict[str, list[Run]]:
    """The newest runs of each target ({target: [run, ...]}, newest first) in ONE query: a
    LIMITed sub-select per target, each read from the (target, -created_at) index, instead
    of a query per target or ranking every run of every target."""
    targets = list(dict.fromkeys(targets))
    out: dict[str, list[Run]] = {target: [] for target in targets}
    if not targets:
        return out
    from django.db import connection

    newest = [Run.objects.filter(target=target).order_by("-created_at", "-id")[:per_target]
              for target in targets]
    if connection.features.supports_slicing_ordering_in_compound:  # PostgreSQL
        runs = newest[0].union(*newest[1:], all=True) if len(newest) > 1 else newest[0]
    else:  # SQLite: no LIMIT inside UNION parts, but it reads each IN (...) from the index
        wanted = models.Q()
        for part in newest:
            wanted |= models.Q(pk__in=part.values("pk"))
        runs = Run.objects.filter(wanted)
    for run in sorted(runs, key=lambda r: (r.created_at, r.pk), reverse=True):
        out[run.target].append(run)
    return out
