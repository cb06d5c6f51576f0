"""The scopes runs act on, as the feature that owns them declares them.

The kernel knows no feature, yet its pages and API name environments: the run list filters
by one, ``POST /api/runs/`` starts a self-check on one, the catalog links an entity to the
portal environment of the same name. ``envs`` registers its directory here from its
``AppConfig.ready()``; until it does (a kernel-only test), there are no scopes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple


class Scope(NamedTuple):
    """A named thing runs act on: the run's ``target`` and the lock it takes."""

    name: str
    target: str
    lock_key: str


class Directory(NamedTuple):
    names: Callable[[], list[str]]
    get: Callable[[str], Scope | None]
    existing: Callable[[Iterable[str]], set[str]]


_directory: Directory | None = None


def register(directory: Directory) -> None:
    global _directory
    _directory = directory


def names() -> list[str]:
    """Every environment's name, in the owner's order."""
    return _directory.names() if _directory else []


def get(name: str) -> Scope | None:
    return _directory.get(name) if _directory else None


def existing(candidates: Iterable[str]) -> set[str]:
    """Which of these names are environments (one query)."""
    return _directory.existing(candidates) if _directory else set()
