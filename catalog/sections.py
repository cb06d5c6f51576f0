"""The catalog's part of the dashboard: how many entities, which locations failed their last
import, and orphans waiting for the owner's decision. The registry of page sections belongs
to the environment core (``envs.sections``), which the catalog may not import; the core
registers this function there (``envs/apps.py``)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from .choices import ImportStatus
from .models import Entity, Location


def dashboard(request: Any, envs: Any) -> dict[str, Any] | None:
    totals = Location.objects.aggregate(
        locations=Count("id"), failed=Count("id", filter=Q(status=ImportStatus.FAILED)))
    if not totals["locations"]:
        return None
    failing = list(Location.objects.filter(status=ImportStatus.FAILED)
                   .order_by("pk").only("id", "kind", "target", "ref", "path",
                                        "last_attempt_at")[:5])
    return {
        "entities": Entity.objects.count(),
        "orphans": Entity.objects.filter(orphaned=True).count(),
        "locations": totals["locations"],
        "failed": totals["failed"],
        "failing": failing,
    }
