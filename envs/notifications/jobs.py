"""What the worker executes for notifications (django-q2 tasks and schedules).

- ``deliver``: a delivery pass; kicked after a notification commits, and every minute by
  the schedule (retries that came due, digests that waited for the rate limit, deliveries
  a dead worker left behind: nothing queued is lost across a restart);
- ``checks``: backup.overdue, secret.overdue, run.stuck, every five minutes;
- ``heartbeat``: the dead-man's switch, every ``PORTAL_HEARTBEAT_MINUTES``.

None of these is a run: a slow receiver never holds an environment's lock or a run's worker
past its own timeout.
"""

from __future__ import annotations

import logging

from django.conf import settings

from portal.runs.schedules import SCHEDULES

from . import checks as periodic
from . import heartbeat as dead_mans_switch
from .delivery import deliver_pass
from .outbox import idle

log = logging.getLogger(__name__)


def deliver() -> dict:
    idle()  # first: a notification committed from now on kicks a new pass
    return deliver_pass()


def checks() -> dict:
    found = periodic.run_all()
    deliver_pass()
    return found


def heartbeat() -> dict:
    return dead_mans_switch.beat()


def register_schedules() -> None:
    SCHEDULES["notifications: deliver due messages and retries"] = {
        "func": "envs.notifications.jobs.deliver", "schedule_type": "I", "minutes": 1}
    SCHEDULES["notifications: overdue backups and secrets, stuck runs"] = {
        "func": "envs.notifications.jobs.checks", "schedule_type": "I", "minutes": 5}
    SCHEDULES["notifications: heartbeat"] = {
        "func": "envs.notifications.jobs.heartbeat", "schedule_type": "I",
        "minutes": settings.HEARTBEAT_MINUTES}
