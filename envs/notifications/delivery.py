"""Sending: what a delivery pass in the worker does with queued and retrying deliveries.

Per channel, everything due goes out as ONE message (a digest when there are several), at
most ``NOTIFY_MAX_PER_MINUTE`` messages a minute (a window that opens with the first
message): what comes on top waits for the next window and joins its digest. Deliveries are
claimed with a compare-and-set (status ``sending`` and a claim token) so two passes never
send the same one; no transaction is held while Apprise talks to the receiver. A failed
attempt schedules the next one (``NOTIFY_RETRY_MINUTES``); after the last, the delivery is
``failed``. A claim older than the send timeout belongs to a pass that died (a worker
restart): it is retried.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from itertools import groupby

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone
from django_q.models import Schedule

from portal.lib import notify

from . import messages
from .messages import Draft
from .models import PENDING, Channel, Delivery, DeliveryStatus, Event
from .outbox import emit
from .redaction import portal_redactor

log = logging.getLogger(__name__)

WINDOW = timedelta(minutes=1)
MAX_GROUP = 1000


def claim_expiry() -> timedelta:
    return timedelta(seconds=settings.NOTIFY_TIMEOUT * 2 + 60)


def recover_stale_claims(now: datetime) -> int:
    """Deliveries left ``sending`` by a pass that died: try them again now."""
    return Delivery.objects.filter(status=DeliveryStatus.SENDING,
                                   claimed_at__lt=now - claim_expiry()).update(
        status=DeliveryStatus.RETRYING, claim="", next_attempt_at=now,
        last_error="the worker stopped while sending; sent again (may arrive twice)")


def due(now: datetime):
    return Delivery.objects.filter(status__in=PENDING, next_attempt_at__lte=now)


def deliver_pass(now: datetime | None = None, rounds: int = 20) -> dict:
    """Send everything due, channel by channel. Returns counts for the log and the bench."""
    stats = {"messages": 0, "sent": 0, "failed_attempts": 0, "postponed": 0, "recovered": 0}
    stats["recovered"] = recover_stale_claims(now or timezone.now())
    for _ in range(rounds):
        moment = now or timezone.now()
        channel_ids = list(due(moment).order_by().values_list("channel_id", flat=True)
                           .distinct())
        if not channel_ids:
            break
        progressed = False
        for channel in Channel.objects.filter(pk__in=channel_ids):
            result = deliver_channel(channel, moment)
            for key, value in result.items():
                stats[key] = stats.get(key, 0) + value
            progressed = progressed or bool(result.get("messages"))
        if not progressed or now is not None:
            break
    return stats


def deliver_channel(channel: Channel, now: datetime) -> dict:
    pending = due(now).filter(channel=channel)
    if not channel.enabled:
        count = pending.update(status=DeliveryStatus.FAILED, attempted_at=now,
                               last_error="the channel is disabled")
        return {"failed_attempts": count}
    ids = list(pending.order_by("created_at", "id").values_list("pk", flat=True)[:MAX_GROUP])
    if not ids:
        return {}
    token = uuid.uuid4().hex
    Delivery.objects.filter(pk__in=ids, status__in=PENDING).update(
        status=DeliveryStatus.SENDING, claim=token, claimed_at=now)
    rows = list(Delivery.objects.filter(claim=token, status=DeliveryStatus.SENDING)
                .select_related("notification").order_by("created_at", "id"))
    if not rows:
        return {}  # another pass took them
    allowed, reopens = take_slot(channel, now)
    if not allowed:  # hand them back, due when the channel's minute is over
        mine = Delivery.objects.filter(claim=token, status=DeliveryStatus.SENDING)
        mine.filter(attempts=0).update(status=DeliveryStatus.QUEUED, claim="",
                                       next_attempt_at=reopens)
        mine.update(status=DeliveryStatus.RETRYING, claim="", next_attempt_at=reopens)
        wake_at(reopens)
        return {"postponed": len(rows)}
    return send_rows(channel, rows, token, now)


WAKE = "notifications: a channel's minute is over"


def wake_at(when: datetime) -> None:
    """A one-off schedule for the pass that sends what waited for the rate limit (sooner
    than the minute schedule would)."""
    current = Schedule.objects.filter(name=WAKE).first()
    if current is not None and current.repeats != 0 and current.next_run is not None \
            and current.next_run <= when:
        return
    Schedule.objects.update_or_create(name=WAKE, defaults={
        "func": "envs.notifications.jobs.deliver", "schedule_type": Schedule.ONCE,
        "next_run": when, "repeats": 1})


def take_slot(channel: Channel, now: datetime) -> tuple[bool, datetime]:
    """One message of the channel's per-minute allowance, taken with compare-and-set (two
    passes in two workers never both take the last one). Returns (taken, when the current
    minute ends)."""
    Channel.objects.filter(pk=channel.pk).filter(
        Q(window_start__isnull=True) | Q(window_start__lte=now - WINDOW)).update(
        window_start=now, window_count=0)
    taken = Channel.objects.filter(pk=channel.pk,
                                   window_count__lt=settings.NOTIFY_MAX_PER_MINUTE).update(
        window_count=F("window_count") + 1)
    start = Channel.objects.filter(pk=channel.pk).values_list("window_start", flat=True)\
        .first() or now
    return bool(taken), start + WINDOW


def send_rows(channel: Channel, rows: list[Delivery], token: str, now: datetime,
              retry: bool = True) -> dict:
    """One message for these claimed deliveries; record the outcome on every one."""
    if len(rows) == 1:
        title, text = rows[0].notification.subject, rows[0].notification.body
    else:
        title, text = messages.digest([(r.notification.event, r.notification.subject,
                                        r.notification.body) for r in rows])
    try:
        target = notify.parse(channel.url)
        secrets = target.secrets
    except notify.InvalidURL as exc:
        target, secrets = None, ()
        refusal = str(exc)
    redact = portal_redactor(extra=secrets)
    if target is not None:
        try:
            notify.check_addresses(target, settings.NOTIFY_ALLOW_PRIVATE)
            outcome = notify.send(channel.url, redact(title), redact(text),
                                  timeout=settings.NOTIFY_TIMEOUT)
        except notify.InvalidURL as exc:
            outcome = notify.Outcome(False, str(exc), 0.0)
    else:
        outcome = notify.Outcome(False, refusal, 0.0)
    finished = max(now, timezone.now())  # a pass run for a later moment (tests) counts from it
    ids = [r.pk for r in rows]
    if outcome.ok:
        Delivery.objects.filter(pk__in=ids).update(
            status=DeliveryStatus.SENT, sent_at=finished, attempted_at=finished,
            attempts=F("attempts") + 1, last_error="", batch=token, batch_size=len(rows),
            claim="")
        Channel.objects.filter(pk=channel.pk).update(consecutive_failures=0,
                                                     last_success_at=finished)
        return {"messages": 1, "sent": len(rows)}
    error = redact(outcome.error)[:2000]
    schedule = list(settings.NOTIFY_RETRY_MINUTES) if retry else []
    for attempts, group in groupby(sorted(rows, key=lambda r: r.attempts),
                                   key=lambda r: r.attempts):
        made = attempts + 1
        group_ids = [r.pk for r in group]
        fields = {"attempts": made, "attempted_at": finished, "last_error": error,
                  "batch": token, "batch_size": len(rows), "claim": ""}
        if made > len(schedule):
            fields["status"] = DeliveryStatus.FAILED
        else:
            fields["status"] = DeliveryStatus.RETRYING
            fields["next_attempt_at"] = finished + timedelta(minutes=schedule[made - 1])
        Delivery.objects.filter(pk__in=group_ids).update(**fields)
    Channel.objects.filter(pk=channel.pk).update(
        consecutive_failures=F("consecutive_failures") + 1, last_failure_at=finished,
        last_error=error)
    failures = Channel.objects.filter(pk=channel.pk).values_list(
        "consecutive_failures", flat=True).first() or 0
    if failures == settings.NOTIFY_FAILING_AFTER:
        warn_failing(channel, failures, error)
    log.warning("notification channel %s: delivery failed (%s in a row)", channel.pk,
                failures)
    return {"messages": 1, "failed_attempts": len(rows)}


def warn_failing(channel: Channel, failures: int, error: str) -> None:
    """Tell the other channels that this one keeps failing (once per streak)."""
    page = messages.DELIVERIES_PAGE
    emit([Draft(
        event=Event.DELIVERY_FAILING,
        subject=messages.subject("", f"Notifications to {channel.name} are failing"),
        body=messages.body(
            f"Channel {channel.name} ({channel.display}) failed {failures} times in a row; "
            "its messages are retried, then marked failed.",
            f"Last error: {messages.first_line(error)}", link=page),
        link=page, dedup_key=f"delivery.failing:{channel.pk}", window=timedelta(hours=6))],
        exclude_channel=channel.pk)
