"""The board's line on the dashboard: where to look first (actions running, failed,
promotions waiting), from the same database rows as the board."""

from __future__ import annotations

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
