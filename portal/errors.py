"""Domain errors: what a service refuses, and why, without knowing who asked.

``services.py`` functions raise these; the API's exception handler
(``portal.api.errors.exception_handler``) turns them into the one error body
``{"error": code, "detail": text, "fields": {...}, ...extra}`` with the error's status, and
page forms (``portal.runs.pages.refusal``) turn them into one line for the user. No view
catches them itself.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal with a machine-readable code, a sentence for people, an HTTP status for the
    API, optional per-field messages and extra members of the error body."""

    code = "refused"
    status = 400

    def __init__(self, code: str | None = None, detail: str = "", status: int | None = None,
                 fields: dict[str, Any] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code or self.code
        self.detail = detail
        self.status = status or self.status
        self.fields = fields or {}
        self.extra = extra

    def __str__(self) -> str:
        return self.detail


class Invalid(DomainError):
    """The input is wrong: ``fields`` names where."""

    code = "invalid"
    status = 400


class NotFound(DomainError):
    code = "not_found"
    status = 404


class ConfirmationRequired(DomainError):
    """A prod-tier (or destructive) action needs the environment's name typed again."""

    code = "confirmation_required"
    status = 400


class Refused(DomainError):
    """A pre-check refused the action (a stale plan, a missing key, a reconciler...)."""

    code = "refused"
    status = 409


class NotConfigured(DomainError):
    """What the action needs is not set up (no cluster connection, no bucket...)."""

    code = "not_configured"
    status = 409


class Conflict(DomainError):
    """The object is not in a state that allows the action (already finished, ...)."""

    code = "conflict"
    status = 409
