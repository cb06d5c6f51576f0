"""social-auth pipeline steps: only the owner's GitHub account (by numeric id) gets in."""

from __future__ import annotations

from django.conf import settings
from social_core.exceptions import AuthPolicyError

from portal.audit.models import Outcome, record

from .models import owner_user


class NotOwner(AuthPolicyError):
    """A GitHub account that is not on PORTAL_OWNER_GITHUB_IDS tried to sign in."""


def require_owner(backend, uid, response, *args, **kwargs):
    github_id = response.get("id")
    login = response.get("login", "")
    try:
        github_id = int(github_id)
    except (TypeError, ValueError):
        github_id = None
    if github_id is None or github_id not in settings.OWNER_GITHUB_IDS:
        request = getattr(backend.strategy, "request", None)
        record(
            "signin",
            outcome=Outcome.REFUSED,
            actor=f"github:{login or '?'}",
            target=f"github:{github_id}",
            request=request,
            reason="not an owner (PORTAL_OWNER_GITHUB_IDS)",
        )
        raise NotOwner(
            backend,
            f"GitHub account {login or github_id} is not this portal's owner.",
            stage="pipeline",
        )
    # Every owner id maps to the portal's single owner account.
    return {"user": kwargs.get("user") or owner_user(), "is_new": False}


def audit_signin(backend, user, response, *args, **kwargs):
    request = getattr(backend.strategy, "request", None)
    record(
        "signin",
        user=user,
        target=f"github:{response.get('id')}",
        request=request,
        method="github",
        login=response.get("login", ""),
    )
