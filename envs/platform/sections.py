"""The platform's line on the dashboard: how many services are ready, and whether the
cluster answers (from the database: the dashboard never waits on the cluster)."""

from __future__ import annotations

from typing import Any

from envs.sections import dashboard_section

from . import services


@dashboard_section(5, "platform/_dashboard.html")
def dashboard_platform(request: Any, envs: Any) -> dict[str, Any] | None:
    data = services.overview()
    if not data["environment_exists"] and data["cluster"]["checked_at"] is None:
        return None
    return {"platform": data}
