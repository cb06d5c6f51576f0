"""The registry of run kinds. Apps register theirs at import (AppConfig.ready)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RunKind:
    name: str
    label: str
    execute: Callable  # execute(ctx) -> optional final status (e.g. "planned")
    mutating: bool = True
    # What a cancel leaves behind, shown in the log when a run of this kind is canceled.
    cancel_note: str = ""
    # Where the owner starts it: POST /api/runs/ only takes "selfcheck".
    endpoint: str = ""
    timeout: int | None = None
    # links(run) -> [(label, url)]: pages of the kind's own app shown on the run page.
    links: Callable | None = None


_KINDS: dict[str, RunKind] = {}


def register(kind: RunKind) -> RunKind:
    _KINDS[kind.name] = kind
    return kind


def get(name: str) -> RunKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise LookupError(f"unknown run kind {name!r}") from None


def all_kinds() -> dict[str, RunKind]:
    return dict(_KINDS)
