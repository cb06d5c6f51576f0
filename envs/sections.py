"""Pages built from parts: each capability (provisioning, deploys, secrets, backups)
registers the sections it adds to the environment page and the dashboard, so the pages
grow without one app editing another's templates.

A section is (order, template, context_fn, tab). ``context_fn(request, env)`` (environment
page) or ``context_fn(request, envs)`` (dashboard) returns the template's context, or None
to hide the section.

The environment page is in tabs (``TABS``), each with its own URL
(``/envs/<name>/<tab>/``). A section lands in the tab its ``env_section(tab=...)`` names,
else the one its template folder maps to in ``TAB_OF_FOLDER`` (so a feature gets a tab
without every ``sections.py`` saying so), else the Overview. ``attention(fn)`` registers
what needs the owner (``fn(request, env) -> [{"text", "url", "level"}]``): the Overview
leads with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# (slug, label) in the order the tab bar shows them; "runs" is the page's own run history.
TABS: list[tuple[str, str]] = [
    ("overview", "Overview"), ("infrastructure", "Infrastructure"), ("deploys", "Deploys"),
    ("secrets", "Secrets"), ("backups", "Backups"), ("runs", "Runs"),
]
TAB_OF_FOLDER: dict[str, str] = {
    "provisioning": "infrastructure", "github": "infrastructure", "deploys": "deploys",
    "secrets": "secrets", "backups": "backups", "recovery": "backups",
}


@dataclass(frozen=True)
class Section:
    order: int
    template: str
    context: Callable
    tab: str = ""

    @property
    def in_tab(self) -> str:
        """The tab this section shows in."""
        if self.tab:
            return self.tab
        return TAB_OF_FOLDER.get(self.template.split("/", 1)[0], "overview")


ENV_SECTIONS: list[Section] = []
DASHBOARD_SECTIONS: list[Section] = []
ATTENTION: list[Callable] = []


def env_section(order: int, template: str, tab: str = ""):
    def decorator(fn):
        ENV_SECTIONS.append(Section(order, template, fn, tab))
        ENV_SECTIONS.sort(key=lambda s: s.order)
        return fn

    return decorator


def in_tab(sections: list[Section], tab: str) -> list[Section]:
    return [s for s in sections if s.in_tab == tab]


def attention(fn: Callable) -> Callable:
    """Register ``fn(request, env) -> [{"text", "url", "level"}]``: what needs the owner."""
    ATTENTION.append(fn)
    return fn


def needs_attention(request, env) -> list[dict]:
    items: list[dict] = []
    for fn in ATTENTION:
        items.extend(fn(request, env) or [])
    return items


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
