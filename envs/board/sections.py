"""The board's line on the dashboard: where to look first (actions running, failed,
promotions waiting), from the same database rows as the board; and the panel of a
Component's catalog page saying what runs where (the catalog's ``entity_panel``)."""

from __future__ import annotations

from catalog.sections import entity_panel
from envs.sections import dashboard_section

from . import services


@dashboard_section(5, "board/_dashboard.html")
def dashboard_board(request, envs) -> dict | None:
    _envs, rows = services.build()
    if not rows:
        return None
    cells = [c for r in rows for c in r.cells]
    return {"running": sum(1 for c in cells if c.run), "failing": sum(1 for c in cells if c.failed),
            "pending": sum(1 for c in cells if c.pending_from), "components": len(rows)}


@entity_panel(10, "board/_entity_deploys.html")
def entity_deploys(request, entity) -> dict | None:
    """A Component's page: per environment, the image that runs there (tag, short digest),
    when and by whom it was released, and its cell on the board (database only)."""
    if entity.kind != "component":
        return None
    _envs, rows = services.build(only=entity.ref)
    if not rows:
        return None
    cells = rows[0].cells
    return {"cells": [c for c in cells if c.live or c.target],
            "elsewhere": [c.env.name for c in cells if not (c.live or c.target)],
            "environments": bool(cells)}
