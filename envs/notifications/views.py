"""Settings -> Notifications: channels, per-event checkboxes, "Send test", the latest
deliveries. Thin: every form calls the service the API calls; a refusal (a DomainError)
goes back to the page with its message through portal.middleware.DomainErrorMiddleware."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from portal.scopes import names as environment_names

from . import heartbeat, services
from .models import ALL, DEFAULT_EVENTS, FAILURE_EVENTS, DeliveryStatus, Event

BACK = "notifications"


def _form_data(request: HttpRequest, partial: bool = False) -> dict:
    post = request.POST
    data: dict = {}
    for key in ("name", "url"):
        value = post.get(key, "").strip()
        if value or not partial:
            data[key] = value
    if "events-present" in post or not partial:
        data["events"] = post.getlist("events")
    if "environments-present" in post or not partial:
        data["environments"] = post.getlist("environments")
    if "enabled-present" in post:
        data["enabled"] = post.get("enabled") == "on"
    return data


def page(request: HttpRequest) -> HttpResponse:
    channels = list(services.channels())
    failure = {str(e) for e in FAILURE_EVENTS}
    events = [{"name": str(e), "failure": str(e) in failure,
               "default": str(e) in DEFAULT_EVENTS} for e in Event]
    for channel in channels:
        channel.all_events = ALL in channel.events  # type: ignore[attr-defined]
    deliveries = list(services.deliveries(request.GET)[:50]) if not request.GET.get(
        "status") or request.GET.get("status") in DeliveryStatus.values else []
    return render(request, "notifications/page.html", {
        "channels": channels, "events": events, "environments": environment_names(),
        "deliveries": deliveries, "heartbeat": heartbeat.last(),
        "statuses": DeliveryStatus.values,
    })


@require_POST
def add(request: HttpRequest) -> HttpResponse:
    channel = services.create_channel(_form_data(request), request)
    messages.success(request, f"Channel {channel.name} added ({channel.display}).")
    return redirect(BACK)


@require_POST
def change(request: HttpRequest, pk: int) -> HttpResponse:
    channel = services.update_channel(services.get_channel(pk),
                                      _form_data(request, partial=True), request)
    messages.success(request, f"Channel {channel.name} saved.")
    return redirect(BACK)


@require_POST
def test(request: HttpRequest, pk: int) -> HttpResponse:
    channel = services.get_channel(pk)
    outcome = services.send_test(channel, request)
    if outcome["status"] == "sent":
        messages.success(request, f"Test message delivered to {channel.name}.")
    else:
        messages.error(request, f"Test message to {channel.name} failed: {outcome['error']}")
    return redirect(BACK)


@require_POST
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    channel = services.get_channel(pk)
    services.delete_channel(channel, request)
    messages.success(request, f"Channel {channel.name} removed.")
    return redirect(BACK)
