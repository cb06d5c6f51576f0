"""Local Location targets: resolution under a root, discovery, and following.

Public API
----------
``LocationError(message, severity="error")``
    Raised by ``resolve_target`` (remote URL -> severity "warning").
``is_within(path, root) -> bool``
    True when ``realpath(path)`` is ``root`` or inside it (symlinks resolved,
    so a link pointing outside the root is refused too).
``resolve_target(target, base_file, root) -> list[str]``
    Resolve one ``spec.target(s)`` entry of a Location entity found in
    ``base_file``: relative paths are relative to that file's directory;
    ``file:`` prefixes are stripped; glob patterns (``*``, ``?``, ``[..]``,
    ``**``) are expanded; a directory means its ``catalog-info.yaml``.
    Returns sorted absolute real paths of existing files (``[]`` when nothing
    matches). Any path that leaves ``root`` -> ``LocationError``;
    ``http(s)://`` targets are not followed -> ``LocationError`` (warning).
``discover_catalog_files(directory) -> list[str]``
    Every ``catalog-info.yaml``/``.yml`` below ``directory``, sorted, skipping
    ``.git``, ``node_modules`` and hidden directories; symlinked directories
    are not entered.
``Target(target, presence, file, line, column, entity, field)``
    One target to follow, with the position of the field that named it;
    ``file`` (absolute, or relative to the root) is also the base for
    resolving a relative target.
``follow_locations(start, root, targets_of, *, max_depth=8, max_files=2000)
-> (files, issues)``
    Depth-first walk from ``start`` files. ``targets_of(path)`` returns the
    ``Target`` list of a file (the loader parses the file there, once).
    Returns files in visit order (each once) and ``Issue`` records for loops
    (a file reached again from its own chain), too-deep chains, the file-count
    cap, escapes and missing required targets. A file reached twice via
    different branches (a diamond) is simply visited once.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .model import Issue

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_FILES",
    "LocationError",
    "Target",
    "discover_catalog_files",
    "follow_locations",
    "is_within",
    "resolve_target",
]

DEFAULT_MAX_DEPTH = 8
DEFAULT_MAX_FILES = 2000
CATALOG_FILENAMES = ("catalog-info.yaml", "catalog-info.yml")
_SKIP_DIRS = frozenset({"node_modules", "__pycache__"})
_GLOB_CHARS = frozenset("*?[")


class LocationError(ValueError):
    def __init__(self, message: str, severity: str = "error"):
        super().__init__(message)
        self.severity = severity


@dataclass(frozen=True)
class Target:
    target: str
    presence: str  # "required" | "optional"
    file: str
    line: int
    column: int
    entity: str | None
    field: str


def is_within(path: str, root: str) -> bool:
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def resolve_target(target: str, base_file: str, root: str) -> list[str]:
    text = target.strip()
    lower = text.lower()
    if lower.startswith(("http://", "https://")):
        raise LocationError(f"remote target {text!r} is not followed", "warning")
    if lower.startswith("file:"):
        text = text[5:]
    if not text:
        raise LocationError("empty target")
    base_dir = os.path.dirname(os.path.abspath(base_file))
    pattern = os.path.normpath(os.path.join(base_dir, text))
    # Check the pattern itself first: "../../x" must fail even if it matches nothing.
    if not is_within(_glob_prefix(pattern), root):
        raise LocationError(f"target {target!r} resolves outside the repository root")
    if _GLOB_CHARS.intersection(text):
        candidates = sorted(glob.glob(pattern, recursive=True))
    else:
        candidates = [pattern] if os.path.exists(pattern) else []
    out: list[str] = []
    for candidate in candidates:
        if os.path.isdir(candidate):
            inner = [os.path.join(candidate, n) for n in CATALOG_FILENAMES]
            candidate = next((p for p in inner if os.path.isfile(p)), "")
            if not candidate:
                continue
        if not is_within(candidate, root):
            raise LocationError(f"target {target!r} resolves outside the repository root "
                                f"(via {os.path.relpath(candidate, base_dir)})")
        real = os.path.realpath(candidate)
        if os.path.isfile(real) and real not in out:
            out.append(real)
    return out


def _glob_prefix(pattern: str) -> str:
    """The longest leading directory of a glob pattern without wildcards."""
    parts = pattern.split(os.sep)
    for i, part in enumerate(parts):
        if _GLOB_CHARS.intersection(part):
            return os.sep.join(parts[:i]) or os.sep
    return pattern


def discover_catalog_files(directory: str) -> list[str]:
    found: list[str] = []
    for current, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
        for name in CATALOG_FILENAMES:
            if name in files:
                found.append(os.path.realpath(os.path.join(current, name)))
    return sorted(found)


def follow_locations(
    start: Iterable[str],
    root: str,
    targets_of: Callable[[str], list[Target]],
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_files: int = DEFAULT_MAX_FILES,
) -> tuple[list[str], list[Issue]]:
    visited: dict[str, None] = {}
    issues: list[Issue] = []
    capped = False

    def issue(t: Target, message: str, severity: str = "error") -> None:
        issues.append(Issue(t.file, t.line, t.column, t.entity, t.field, message, severity))

    def visit(path: str, chain: list[str]) -> None:
        nonlocal capped
        if len(visited) >= max_files:
            if not capped:
                capped = True
                issues.append(Issue(path, 0, 0, None, None,
                                    f"more than {max_files} catalog files; stopped following "
                                    "Locations", "error"))
            return
        visited[path] = None
        chain.append(path)
        for t in targets_of(path):
            try:
                # t.file may be root-relative (as the loader reports it).
                resolved = resolve_target(t.target, os.path.join(root, t.file), root)
            except LocationError as exc:
                issue(t, str(exc), exc.severity)
                continue
            if not resolved and t.presence != "optional":
                issue(t, f"target {t.target!r} does not match any file")
            for nxt in resolved:
                if nxt in chain:
                    loop = " -> ".join(os.path.relpath(p, root) for p in chain[chain.index(nxt):])
                    issue(t, f"Location loop: {loop} -> {os.path.relpath(nxt, root)}")
                elif nxt in visited:
                    continue
                elif len(chain) > max_depth:
                    issue(t, f"Location nesting deeper than {max_depth}; "
                             f"{os.path.relpath(nxt, root)} not read")
                else:
                    visit(nxt, chain)
        chain.pop()

    for path in start:
        real = os.path.realpath(path)
        if real not in visited:
            visit(real, [])
    return list(visited), issues
