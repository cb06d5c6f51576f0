"""The dashboard's word on notifications (failed deliveries and failing channels), and the
environment Overview's: a channel that should tell the owner about the environment and whose
latest deliveries failed."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import F, Min, Q
from django.utils import timezone

from envs.sections import attention, dashboard_section

from .messages import when
from .models import Channel, Delivery, DeliveryStatus

RECENT = timedelta(days=7)


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{max(minutes, 1)} min"
    return f"{minutes // 60} h" if minutes < 72 * 60 else f"{minutes // 1440} days"


@attention
def failing_attention(request, env) -> list[dict]:
    """Each enabled channel covering ``env`` whose latest attempts failed, and since when:
    the oldest message it has not delivered since its last success (two queries, whatever
    the number of channels or deliveries)."""
    channels = [c for c in Channel.objects.filter(enabled=True, consecutive_failures__gt=0)
                .only("name", "display", "environments", "consecutive_failures",
                      "last_success_at", "last_failure_at", "last_error")
                if not c.environments or env.name in c.environments]
    if not channels:
        return []
    undelivered = dict(Delivery.objects.filter(
        channel__in=channels, status__in=[DeliveryStatus.FAILED, DeliveryStatus.RETRYING])
        .filter(Q(channel__last_success_at__isnull=True)
                | Q(created_at__gt=F("channel__last_success_at"))).order_by()
        .values("channel_id").annotate(first=Min("created_at"))
        .values_list("channel_id", "first"))
    now = timezone.now()
    items = []
    for channel in channels:
        since = undelivered.get(channel.pk) or channel.last_failure_at or now
        n = channel.consecutive_failures
        text = (f"Notifications to {channel.name} ({channel.display}) are failing for "
                f"{_age((now - since).total_seconds())}: {n} attempt{'s' if n != 1 else ''} "
                "in a row failed" + (f" ({channel.last_error[:120]})" if channel.last_error
                                     else ""))
        delivered = (f"last delivered {when(channel.last_success_at)}"
                     if channel.last_success_at else "never delivered")
        items.append({
            "text": text, "url": "/settings/notifications/?status=failed",
            "title": f"undelivered since {when(since)}; {delivered}",
            "level": "error" if n >= settings.NOTIFY_FAILING_AFTER else "warning",
            "action": "See the deliveries"})
    return items


@dashboard_section(90, "notifications/_dashboard.html")
def dashboard(request, envs):
    channels = list(Channel.objects.defer("url").filter(enabled=True))
    since = timezone.now() - RECENT
    failed = Delivery.objects.filter(status=DeliveryStatus.FAILED, created_at__gte=since)
    retrying = Delivery.objects.filter(status=DeliveryStatus.RETRYING).count()
    failing = [c for c in channels if c.consecutive_failures]
    count = failed.count()
    if not channels and not count:
        return None
    latest = failed.select_related("notification", "channel").defer("channel__url")\
        .order_by("-created_at").first()
    return {"channels": len(channels), "failed": count, "retrying": retrying,
            "failing": failing, "latest": latest}
