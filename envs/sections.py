"""Pages built from parts: each capability (provisioning, deploys, secrets, backups)
registers the sections it adds to the environment page and the dashboard, so the pages
grow without one app editing another's templates.

A section is (order, template, context_fn). ``context_fn(request, env)`` (environment page)
or ``context_fn(request, envs)`` (dashboard) returns the template's context, or None to
hide the section.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    order: int
    template: str
    context: Callable


ENV_SECTIONS: list[Section] = []
DASHBOARD_SECTIONS: list[Section] = []


def env_section(order: int, template: str):
    def decorator(fn):
        ENV_SECTIONS.append(Section(order, template, fn))
        ENV_SECTIONS.sort(key=lambda s: s.order)
        return fn

    return decorator


def dashboard_section(order: int, template: str):
    def decorator(fn):
        DASHBOARD_SECTIONS.append(Section(order, template, fn))
        DASHBOARD_SECTIONS.sort(key=lambda s: s.order)
        return fn

    return decorator


def memo(request, key, compute: Callable):
    """``compute()`` once per request: sections that show the same row (the environment's
    lock holder, its state snapshot) share one query instead of each reading it."""
    store = getattr(request, "_section_memo", None) if request is not None else None
    if store is None:
        if request is None:
            return compute()
        store = request._section_memo = {}
    if key not in store:
        store[key] = compute()
    return store[key]


def render_sections(sections, request, subject) -> list[tuple[str, dict]]:
    rendered = []
    for section in sections:
        context = section.context(request, subject)
        if context is not None:
            rendered.append((section.template, context))
    return rendered


def head(request, queryset, name: str, default: int, cap: int = 1000) -> tuple[list, bool]:
    """The first ``default`` rows of a section's list, and whether more exist.

    The environment page is an overview: each list shows its newest rows and a "show all"
    link (``?show=<name>``) that lists up to ``cap`` (one query either way: ``default + 1``
    rows are read to know whether there are more, no COUNT)."""
    if request is not None and request.GET.get("show") == name:
        return list(queryset[:cap]), False
    rows = list(queryset[: default + 1])
    return rows[:default], len(rows) > default
