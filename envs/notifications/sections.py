"""The dashboard's word on notifications: failed deliveries and failing channels."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from envs.sections import dashboard_section

from .models import Channel, Delivery, DeliveryStatus

RECENT = timedelta(days=7)


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
