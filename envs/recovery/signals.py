"""The moment a browser session signed in, which the recovery kit's download checks. (A
failed self-backup or portal drill is ``backup.failed`` / ``drill.failed``: envs/notifications
derives those from the run kinds ``portal_backup`` and ``portal_drill``.)"""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth.signals import user_logged_in

SIGNED_IN_AT = "recovery_signed_in_at"


def connect() -> None:
    connect_sign_in()


def remember_sign_in(sender: type, request: Any, user: Any, **kwargs: Any) -> None:
    """The moment this browser session signed in: the recovery kit asks for a recent one."""
    if request is not None and hasattr(request, "session"):
        request.session[SIGNED_IN_AT] = time.time()


def connect_sign_in() -> None:
    user_logged_in.connect(remember_sign_in, dispatch_uid="recovery-sign-in-time")
