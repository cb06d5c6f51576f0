"""The dead-man's switch: the portal cannot report its own death, so it reports its life.

Every ``PORTAL_HEARTBEAT_MINUTES`` the scheduler hands this to a worker. It requests
``PORTAL_HEARTBEAT_URL`` (a healthchecks.io or Uptime Kuma push URL) only when all four are
healthy: the database (it answers), the worker (this code runs in one), the scheduler (the
schedules are not overdue) and the web process (its ``/healthz`` answers 200). When any of
them stops, the pings stop and the outside monitor alerts. The outcome is remembered for
the notifications page (``EventState`` "heartbeat"), never the URL.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule

from .models import EventState

KEY = "heartbeat"
TIMEOUT = 10
# A schedule whose next run is this far in the past means the scheduler is not running.
SCHEDULER_LATE = timedelta(minutes=3)


def problems() -> list[str]:
    found = []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy"
        return [f"database: {type(exc).__name__}"]
    late = Schedule.objects.exclude(repeats=0).filter(
        next_run__lt=timezone.now() - SCHEDULER_LATE)
    if late.exists():
        found.append(f"scheduler: {late.count()} schedule(s) overdue")
    try:
        code, text = _get(settings.HEARTBEAT_WEB_URL)
        status = json.loads(text or b"{}").get("status")
        if code != 200 or status != "ok":
            found.append(f"web: /healthz answered {code} {status}")
    except Exception as exc:  # noqa: BLE001
        found.append(f"web: /healthz unreachable ({type(exc).__name__})")
    return found


def _get(url: str) -> tuple[int, bytes]:
    """GET an http(s) URL from the settings (the owner's own monitor and web process)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("only http and https URLs are requested")
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        url, headers={"User-Agent": "eaas-portal-heartbeat"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310 - checked
        return answer.status, answer.read(4096)


def beat() -> dict:
    if not settings.HEARTBEAT_URL:
        return {"status": "off"}
    wrong = problems()
    if wrong:
        remember("skipped: " + "; ".join(wrong))
        return {"status": "skipped", "problems": wrong}
    try:
        code, _text = _get(settings.HEARTBEAT_URL)
        ok = 200 <= code < 300
    except Exception as exc:  # noqa: BLE001
        remember(f"failed: {type(exc).__name__}")
        return {"status": "failed", "error": type(exc).__name__}
    remember("sent" if ok else "failed: not 2xx")
    return {"status": "sent" if ok else "failed"}


def remember(value: str) -> None:
    EventState.objects.update_or_create(key=KEY, defaults={
        "value": value[:40], "changed_at": timezone.now()})


def last() -> EventState | None:
    return EventState.objects.filter(key=KEY).first()
