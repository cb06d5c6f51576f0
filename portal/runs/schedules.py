"""django-q2 schedules the portal keeps: apps add theirs to SCHEDULES at import."""

from __future__ import annotations

SCHEDULES: dict[str, dict] = {
    "portal: reap dead runs": {
        "func": "portal.runs.engine.reap_task",
        "schedule_type": "I",
        "minutes": 1,
    },
}


def ensure_schedules() -> None:
    from django_q.models import Schedule

    for name, spec in SCHEDULES.items():
        Schedule.objects.update_or_create(name=name, defaults={"repeats": -1, **spec})
