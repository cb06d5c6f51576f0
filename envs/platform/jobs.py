"""What the worker runs for the platform: the health check, every minute.

Not an audited Run: it only reads, and a Run a minute would bury the runs list. What it
changes (a service turning unhealthy or recovering) is written to the audit log as
``platform.unhealthy`` / ``platform.recovered``.
"""

from __future__ import annotations

from . import services


def check_platform() -> list[str]:
    """django-q2's schedule calls this. Returns the events it raised (for the task log)."""
    return [f"{a.event} {a.service}" for a in services.check_health()]
