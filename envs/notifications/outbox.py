"""Writing notifications: one row per event, one delivery per channel that wants it, in the
caller's transaction, then a kick to the worker once it commits.

``emit(drafts)`` takes the drafts of ONE cause (a run's end may be both ``backup.failed``
and ``run.failed``), most specific first: a channel gets at most one of them, the first it
wants. A draft whose dedup key was written within its window is dropped. Subjects and
bodies are redacted with every secret the portal knows before they are stored.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.tasks import async_task

from portal.runs.models import Run

from .messages import Draft
from .models import Channel, Delivery, EventState, Notification
from .redaction import portal_redactor

log = logging.getLogger(__name__)

KICK = "kick"
KICK_STALE = timedelta(minutes=2)


def emit(drafts: list[Draft], *, run: Run | None = None, exclude_channel: int | None = None,
         now: datetime | None = None) -> list[Notification]:
    """``now``: the moment the checks looked at (dedup windows count from it)."""
    now = now or timezone.now()
    written: list[Notification] = []
    with transaction.atomic():
        fresh = [d for d in drafts if not (d.dedup_key and Notification.objects.filter(
            dedup_key=d.dedup_key, created_at__gte=now - d.window).exists())]
        if not fresh:
            return []
        redact = portal_redactor()
        channels = list(Channel.objects.filter(enabled=True).defer("url"))
        served: set[int] = set()
        deliveries = []
        for draft in fresh:
            notification = Notification.objects.create(
                event=draft.event, environment=draft.environment,
                subject=redact(draft.subject)[:200], body=redact(draft.body),
                link=draft.link, dedup_key=draft.dedup_key or "", run=run, created_at=now)
            written.append(notification)
            for channel in channels:
                if channel.pk in served or channel.pk == exclude_channel:
                    continue
                if channel.wants(draft.event, draft.environment):
                    served.add(channel.pk)
                    deliveries.append(Delivery(notification=notification, channel=channel,
                                               next_attempt_at=now, created_at=now))
        Delivery.objects.bulk_create(deliveries)
        if deliveries:
            transaction.on_commit(kick)
    return written


def kick() -> None:
    """Hand a delivery pass to the worker, unless one is already waiting for it.

    The pass marks the kick idle before it looks for work, so a notification committed
    after that mark kicks again and one committed before it is seen: nothing waits for the
    minute schedule except when the queue lost the task (then the schedule clears it)."""
    try:
        EventState.objects.get_or_create(key=KICK, defaults={"value": "idle"})
    except IntegrityError:
        pass
    now = timezone.now()
    taken = EventState.objects.filter(key=KICK).exclude(
        value="pending", changed_at__gte=now - KICK_STALE).update(value="pending",
                                                                  changed_at=now)
    if not taken:
        return
    try:
        async_task("envs.notifications.jobs.deliver",
                   q_options={"task_name": f"notify-{now.timestamp():.3f}",
                              "group": "notifications", "timeout": 600})
    except Exception:  # the queue is down: the minute schedule delivers
        log.exception("could not hand the delivery pass to the task queue")
        EventState.objects.filter(key=KICK).update(value="idle")


def idle() -> None:
    EventState.objects.filter(key=KICK).update(value="idle", changed_at=timezone.now())
