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


def render_sections(sections, request, subject) -> list[tuple[str, dict]]:
    rendered = []
    for section in sections:
        context = section.context(request, subject)
        if context is not None:
            rendered.append((section.template, context))
    return rendered
