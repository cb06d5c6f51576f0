"""What every page form that starts a run does with the answer: go to the run's live page,
or go back and say, in one line, why it was refused (invalid input, a held lock, the prod
guard). The form calls the same method as the API, so the reasons are the API's."""

from __future__ import annotations

import re

from django.contrib import messages
from django.shortcuts import redirect
from rest_framework.exceptions import APIException, ValidationError

from portal.errors import DomainError

# API wording a page does not show: how the API takes a confirmation, or a route to call.
_PAGE_WORDING = [
    (re.compile(r' as "confirm": "[^"]*"'), " in the confirmation field"),
    (re.compile(r" \((?:PUT|POST|PATCH|DELETE) /api/[^)]*? or (the [^)]*)\)"), r" (\1)"),
]


def page_wording(text: str) -> str:
    """A refusal as a page says it: no API wording (``"confirm": "prod"``, ``PUT /api/…``)."""
    for pattern, replacement in _PAGE_WORDING:
        text = pattern.sub(replacement, text)
    return text


def refusal(exc: Exception) -> str:
    return page_wording(_refusal(exc))


def _refusal(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"input": exc.detail}
        parts = []
        for field, value in detail.items():
            first = value[0] if isinstance(value, list) and value else value
            parts.append(f"{field}: {first}")
        return "Refused: " + "; ".join(parts)
    if isinstance(exc, DomainError):
        return f"Refused: {exc}."
    return f"Refused: {getattr(exc, 'detail', exc)}"


def start_from_form(request, start, back: str, note: str = ""):
    """Call ``start()``; it returns a Run, None, or (Run or None, note)."""
    try:
        result = start()
    except (APIException, DomainError) as exc:
        messages.error(request, refusal(exc))
        return redirect(back)
    run, note = result if isinstance(result, tuple) else (result, note)
    if run is not None:
        return redirect("run", pk=run.pk)
    if note:
        messages.success(request, note)
    return redirect(back)
