"""Everything the owner can do with notifications; the API and the page call only these.

Each action validates (``ChannelInput``), checks where the URL points (SSRF), writes the
change and its audit event in one transaction, and raises domain errors. The audit event
names the channel and its display (scheme and host), never the URL.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from portal.audit.models import Outcome, actor_from_request, record
from portal.errors import Invalid, NotFound
from portal.lib import notify

from .delivery import send_rows
from .messages import body as message_body
from .models import TEST_EVENT, Channel, Delivery, DeliveryStatus, Notification
from .serializers import ChannelInput, DeliveryFilter


def _invalid(errors: Any) -> Invalid:
    fields = {key: [str(m) for m in (value if isinstance(value, list) else [value])]
              for key, value in dict(errors).items()}
    summary = "; ".join(f"{key}: {msgs[0]}" for key, msgs in fields.items() if msgs)
    return Invalid(detail=summary or "invalid input", fields=fields)


def validated(data: Any, partial: bool = False) -> dict:
    form = ChannelInput(data=data, partial=partial)
    if not form.is_valid():
        raise _invalid(form.errors)
    return form.to_fields()


def checked_url(url: str) -> notify.ChannelURL:
    try:
        target = notify.parse(url)
        notify.check_addresses(target, settings.NOTIFY_ALLOW_PRIVATE)
    except notify.InvalidURL as exc:
        raise Invalid(detail=f"url: {exc}", fields={"url": [str(exc)]}) from None
    return target


def get_channel(pk: int) -> Channel:
    channel = Channel.objects.filter(pk=pk).first()
    if channel is None:
        raise NotFound(detail=f"no notification channel #{pk}")
    return channel


def channels() -> QuerySet[Channel]:
    return Channel.objects.defer("url")


def _save(channel: Channel) -> None:
    try:
        with transaction.atomic():
            channel.save()
    except IntegrityError:
        raise Invalid(detail=f"name: a channel named {channel.name!r} exists",
                      fields={"name": [f"a channel named {channel.name!r} exists"]}) from None


def create_channel(data: Any, request: Any = None) -> Channel:
    fields = validated(data)
    target = checked_url(fields["url"])
    channel = Channel(name=fields["name"], url=target.url, display=target.display,
                      events=fields["events"], environments=fields["environments"],
                      enabled=fields.get("enabled", True))
    with transaction.atomic():
        _save(channel)
        record("notifications.channel.create", target=f"channel:{channel.pk}",
               request=request, name=channel.name, display=channel.display,
               events=channel.events, environments=channel.environments)
    return channel


def update_channel(channel: Channel, data: Any, request: Any = None) -> Channel:
    fields = validated(data, partial=True)
    changed = sorted(fields)
    if "url" in fields:
        target = checked_url(fields.pop("url"))
        channel.url, channel.display = target.url, target.display
        channel.consecutive_failures = 0
    for name, value in fields.items():
        setattr(channel, name, value)
    with transaction.atomic():
        _save(channel)
        record("notifications.channel.update", target=f"channel:{channel.pk}",
               request=request, name=channel.name, display=channel.display, changed=changed)
    return channel


def delete_channel(channel: Channel, request: Any = None) -> None:
    with transaction.atomic():
        record("notifications.channel.delete", target=f"channel:{channel.pk}",
               request=request, name=channel.name, display=channel.display)
        channel.delete()


def send_test(channel: Channel, request: Any = None) -> dict:
    """Send a test message now (not rate limited, not retried) and say how it went."""
    who = (actor_from_request(request) if request is not None else None) or "owner"
    page = "/settings/notifications/"
    now = timezone.now()
    with transaction.atomic():
        notification = Notification.objects.create(
            event=TEST_EVENT, subject=f"Test message for {channel.name}",
            body=message_body(f"Sent by {who} from the portal's notifications page. If you "
                              "read this, the channel works.", link=page),
            link=page, dedup_key=f"{TEST_EVENT}:{uuid.uuid4().hex}", created_at=now)
        token = uuid.uuid4().hex
        delivery = Delivery.objects.create(notification=notification, channel=channel,
                                           status=DeliveryStatus.SENDING, claim=token,
                                           claimed_at=now, created_at=now)
    delivery.notification = notification
    send_rows(channel, [delivery], token, now, retry=False)
    delivery.refresh_from_db()
    ok = delivery.status == DeliveryStatus.SENT
    record("notifications.channel.test", outcome=Outcome.SUCCESS if ok else Outcome.FAILURE,
           target=f"channel:{channel.pk}", request=request, name=channel.name,
           display=channel.display, error=delivery.last_error[:300])
    return {"status": "sent" if ok else "failed", "error": delivery.last_error}


def deliveries(params: Any = None) -> QuerySet[Delivery]:
    """Newest first, filtered by channel, event and status (bad filters: 400)."""
    params = params or {}
    form = DeliveryFilter(data={key: params.get(key) for key in ("channel", "event", "status")
                                if params.get(key) not in ("", None)})
    if not form.is_valid():
        raise _invalid(form.errors)
    rows = Delivery.objects.select_related("notification", "channel").defer("channel__url")
    filters = form.validated_data
    if "channel" in filters:
        rows = rows.filter(channel_id=filters["channel"])
    if "event" in filters:
        rows = rows.filter(notification__event=filters["event"])
    if "status" in filters:
        rows = rows.filter(status=filters["status"])
    return rows.order_by("-created_at", "-id")
