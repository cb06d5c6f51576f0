"""Failure events: a failed portal drill is ``drill.failed``, a failed self-backup
``backup.failed`` (through the notifications outbox, in the run's status-change
transaction). The generic ``run.failed`` is sent by envs/notifications itself."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth.signals import user_logged_in

from envs.notifications import messages
from envs.notifications.messages import Draft
from envs.notifications.models import Event
from envs.notifications.outbox import emit
from portal.runs.choices import Status
from portal.runs.models import Run
from portal.runs.signals import run_status_changed

SIGNED_IN_AT = "recovery_signed_in_at"
EVENTS = {"portal_backup": (Event.BACKUP_FAILED, "Portal self-backup failed"),
          "portal_drill": (Event.DRILL_FAILED, "Portal restore drill failed")}


def draft_for(run: Run) -> Draft | None:
    if run.status != Status.FAILED or run.kind not in EVENTS:
        return None
    event, headline = EVENTS[run.kind]
    reason = messages.first_line(run.error) or "no reason recorded"
    link = f"/runs/{run.pk}/"
    return Draft(event=str(event), subject=messages.subject("", headline),
                 body=messages.body(f"Run #{run.pk} of the portal failed.", f"Reason: {reason}",
                                    "Until this is fixed, a lost machine loses the portal's "
                                    "data since the last good self-backup.", link=link),
                 link=link, dedup_key=f"{event}:portal:{run.pk}")


def on_run_status_changed(sender: type, run: Run, previous: str, **kwargs: Any) -> None:
    draft = draft_for(run)
    if draft is not None:
        emit([draft], run=run)


def connect() -> None:
    run_status_changed.connect(on_run_status_changed, dispatch_uid="recovery-failures")
    connect_sign_in()


def remember_sign_in(sender: type, request: Any, user: Any, **kwargs: Any) -> None:
    """The moment this browser session signed in: the recovery kit asks for a recent one."""
    if request is not None and hasattr(request, "session"):
        request.session[SIGNED_IN_AT] = time.time()


def connect_sign_in() -> None:
    user_logged_in.connect(remember_sign_in, dispatch_uid="recovery-sign-in-time")
