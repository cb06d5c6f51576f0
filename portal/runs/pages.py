"""What every page form that starts a run does with the answer: go to the run's live page,
or go back and say, in one line, why it was refused (invalid input, a held lock, the prod
guard). The form calls the same method as the API, so the reasons are the API's.

A refusal also leaves, for the next page only (like a message), what the form needs to show
it in place (``refuse`` / ``pop_refusal``): the form's address, its errors by field and the
values typed that are not secret. ``templates/base.html`` hands it to ``static/forms.js``,
which puts each error next to its field, opens the form's section and scrolls to it.
Secret values are never kept: only fields the page's script listed as keepable (no password
inputs, nothing marked ``data-secret``) whose names do not look secret either.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from rest_framework.exceptions import APIException, ValidationError

from portal.errors import DomainError

# API wording a page does not show: how the API takes a confirmation, or a route to call.
_PAGE_WORDING = [
    (re.compile(r' as "confirm": "[^"]*"'), " in the confirmation field"),
    (re.compile(r" \((?:PUT|POST|PATCH|DELETE) /api/[^)]*? or (the [^)]*)\)"), r" (\1)"),
    (re.compile(r"\bPUT a new value\b"), "set a new value"),
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
        fields = field_errors(exc) if isinstance(exc.detail, dict) else {
            "input": [str(v) for v in exc.detail] if isinstance(exc.detail, list)
            else [str(exc.detail)]}
        return "Refused: " + "; ".join(f"{field}: {msgs[0]}" for field, msgs in fields.items())
    if isinstance(exc, DomainError):
        return f"Refused: {exc}."
    return f"Refused: {getattr(exc, 'detail', exc)}"


# --------------------------------------------------------------------------- kept in place

SESSION_KEY = "form_refusal"
#: Posted by static/forms.js: the fields it may keep, and which form of the page it was.
KEEP_FIELD, FORM_FIELD = "_keep", "_form"
# A field whose name has one of these parts is never kept, whatever the page said.
_SECRET_PARTS = {"value", "kubeconfig", "token", "password", "passwd",
                 "passphrase", "key", "credential", "credentials", "dsn", "confirm"}
_SECRET_NAMES = {"secret", "url", "database_url", "admin_url", "csrfmiddlewaretoken", KEEP_FIELD,
                 FORM_FIELD}
_MAX_VALUE, _MAX_KEPT = 4000, 32000


def secret_looking(name: str) -> bool:
    """Whether a field's name says it may hold a secret (or a confirmation to retype)."""
    lowered = name.lower()
    return lowered in _SECRET_NAMES or bool(_SECRET_PARTS & set(re.split(r"[^a-z0-9]+",
                                                                         lowered)))


def field_errors(exc: Exception) -> dict[str, list[str]]:
    """{field: [message]} of a refusal: a DomainError's ``fields``, a ValidationError's
    detail (nested fields as ``outer.inner``); nothing for a refusal of the whole form."""
    if isinstance(exc, ValidationError):
        detail = exc.detail
    elif isinstance(exc, DomainError):
        detail = exc.fields
    else:
        return {}
    if not isinstance(detail, dict):
        return {}
    found: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list | tuple):
            if value and all(isinstance(v, dict) for v in value):
                for i, inner in enumerate(value):
                    walk(f"{prefix}.{i}", inner)
            else:
                found.setdefault(prefix, []).extend(page_wording(str(v)) for v in value)
        else:
            found.setdefault(prefix, []).append(page_wording(str(value)))

    walk("", detail)
    return {name: msgs for name, msgs in found.items() if msgs}


def _kept_values(request) -> dict[str, list[str]]:
    """The values typed that the page listed as keepable and whose names are not secret
    (at most ``_MAX_KEPT`` characters in all: a session is no place for a big post)."""
    post = request.POST
    listed = [n for n in post.get(KEEP_FIELD, "").split(",") if n][:200]
    kept: dict[str, list[str]] = {}
    room = _MAX_KEPT
    for name in dict.fromkeys(listed):
        if secret_looking(name):
            continue
        # Listed but not posted: boxes left unticked (the page unticks them again).
        values = [v[:_MAX_VALUE] for v in post.getlist(name)][:50]
        room -= len(name) + sum(len(v) for v in values)
        if room < 0:
            break
        kept[name] = values
    return kept


def back_to_form(request, fallback: str) -> str:
    """The page the form was on (the referer, when it is this site), else ``fallback``."""
    back = request.META.get("HTTP_REFERER") or ""
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                                require_https=request.is_secure()):
        return back
    return fallback


def refuse(request, exc: Exception, fallback: str):
    """The one-line message, what the form needs to show the refusal in place (for the next
    page only), and back to the page the form was on."""
    message = refusal(exc)
    messages.error(request, message)
    if hasattr(request, "session"):
        back = back_to_form(request, fallback)
        request.session[SESSION_KEY] = {
            "page": urlsplit(back).path, "action": request.path,
            "form": request.POST.get(FORM_FIELD, "")[:20],
            "message": message, "fields": field_errors(exc), "values": _kept_values(request),
        }
        return redirect(back)
    return redirect(back_to_form(request, fallback))


def pop_refusal(request) -> dict | None:
    """The refusal the previous request left for this page, once (dropped if another page
    is shown first)."""
    session = getattr(request, "session", None)
    if session is None or SESSION_KEY not in session:
        return None
    kept = session.pop(SESSION_KEY)
    return kept if isinstance(kept, dict) and kept.get("page") == request.path else None


def start_from_form(request, start, back: str, note: str = ""):
    """Call ``start()``; it returns a Run, None, or (Run or None, note). A refusal goes back
    to the page the form was on (``back`` when the referer is not this site)."""
    try:
        result = start()
    except (APIException, DomainError) as exc:
        return refuse(request, exc, back)
    run, note = result if isinstance(result, tuple) else (result, note)
    if run is not None:
        return redirect("run", pk=run.pk)
    if note:
        messages.success(request, note)
    return redirect(back)
