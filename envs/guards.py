"""The prod guard every mutating API call on an environment goes through."""

from __future__ import annotations

from portal.audit.models import Outcome, record
from portal.errors import ConfirmationRequired, NotFound

from .models import Environment


def require_confirmation(env: Environment, data, *, always: bool = False) -> None:
    """Prod-tier changes (and, with ``always``, any destroy) need ``"confirm": "<env>"``."""
    if not (env.is_prod or always):
        return
    confirm = data.get("confirm") if hasattr(data, "get") else None
    if confirm != env.name:
        raise ConfirmationRequired(
            detail=f"{env.name} is a {env.tier}-tier environment: repeat its name as "
            f'"confirm": "{env.name}" to go ahead',
            fields={"confirm": [f"must be {env.name!r}"]},
        )


def forced(data) -> bool:
    value = data.get("force") if hasattr(data, "get") else None
    return value is True or value in ("true", "1", "on")


def audit_force(request, env: Environment, check: str, detail: str) -> None:
    """Record that the owner overrode a failed pre-check with "force": true."""
    record("precheck.forced", outcome=Outcome.INFO, target=env.target, request=request,
           check=check, detail=detail[:500])


def get_environment(name: str) -> Environment:
    env = Environment.objects.filter(name=name).first()
    if env is None:
        raise NotFound(detail=f"no environment named {name!r}")
    return env
