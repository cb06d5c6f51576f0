"""What the owner can do with runs themselves: start a self-check, cancel a run. UI views
and API views call these; the engine (``engine.py``) executes what they start."""

from __future__ import annotations

from portal import scopes
from portal.errors import Conflict, NotFound

from .models import Run


def start_selfcheck_run(environment: str, request) -> Run:
    """A self-check of the portal, or of one environment (taking its lock)."""
    scope = None
    if environment:
        scope = scopes.get(environment)
        if scope is None:
            raise NotFound(detail=f"no environment named {environment!r}",
                           fields={"environment": [f"no environment named {environment!r}"]})
    run = Run.start("selfcheck", target=scope.target if scope else "portal",
                    lock_key=scope.lock_key if scope else "", request=request)
    assert run is not None  # only scheduled runs come back None
    return run


def cancel_run(run: Run, request) -> Run:
    """Ask a queued or running run to stop; Conflict when it has already finished."""
    if not run.request_cancel(request=request):
        raise Conflict("not_active", f"run #{run.pk} is {run.status}; only queued or "
                       "running runs can be canceled")
    return run
