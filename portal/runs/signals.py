"""What the kernel tells features about runs, without knowing them.

``run_status_changed`` is sent inside the very transaction that changes a run's status (a
run ending, a queued run canceled, a plan approved or discarded, the reaper failing a run),
so a receiver's rows (a notification, a follow-up record) commit with the change or not at
all. A receiver that fails is logged and rolled back to a savepoint; it never changes the
run's outcome.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

# sender: the Run class; kwargs: run (reloaded, new status), previous (the old status)
run_status_changed = Signal()


def announce(run: Any, previous: str) -> None:
    if not run_status_changed.has_listeners(type(run)):
        return
    try:
        with transaction.atomic():
            run_status_changed.send(sender=type(run), run=run, previous=previous)
    except Exception:
        log.exception("a receiver of run #%s's status change (%s -> %s) failed",
                      run.pk, previous, run.status)
