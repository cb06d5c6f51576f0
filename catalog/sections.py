"""The catalog's part of the dashboard: how many entities, which locations failed their last
import, and orphans waiting for the owner's decision. The registry of page sections belongs
to the environment core (``envs.sections``), which the catalog may not import; the core
registers this function there (``envs/apps.py``).

The entity page's own registry is here: ``entity_panel(order, template)`` registers
``fn(request, entity) -> context | None``, so features above the catalog (the board: what
runs where) add panels to an entity's page without the catalog importing them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class EntityPanel:
    order: int
    template: str
    context: Callable


ENTITY_PANELS: list[EntityPanel] = []


def entity_panel(order: int, template: str):
    """Register ``fn(request, entity) -> context | None`` (None hides the panel); the
    template gets ``panel`` (that context) and ``entity``."""
    def decorator(fn):
        ENTITY_PANELS.append(EntityPanel(order, template, fn))
        ENTITY_PANELS.sort(key=lambda p: p.order)
        return fn

    return decorator


def entity_panels(request: Any, entity: Entity) -> list[tuple[str, dict[str, Any]]]:
    """The registered panels of ``entity``'s page that have something to show."""
    contexts = ((p.template, p.context(request, entity)) for p in ENTITY_PANELS)
    return [(template, context) for template, context in contexts if context is not None]
