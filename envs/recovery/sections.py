"""The recovery part of the dashboard: "portal restorable, proven N days ago"."""

from __future__ import annotations

from typing import Any

from envs.sections import dashboard_section

from . import services


@dashboard_section(95, "recovery/_dashboard.html")
def dashboard(request: Any, envs: Any) -> dict[str, Any]:
    return services.status()
