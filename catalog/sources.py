"""Read a Location's source into a descriptor ``CatalogResult``: the "read -> parse ->
validate -> resolve" half of an import (nothing is stored here).

* local: a file, or a directory searched for ``catalog-info.yaml`` files (Location targets
  followed, never outside the directory given). Only under PORTAL_CATALOG_LOCAL_ROOTS
  unless the location is ``trusted`` (added from the command line).
* git: ``portal.lib.gitfetch`` (https on an allowed host; a local repository only when
  trusted); every catalog file of the checkout, or ``path`` inside it.
* url: ``portal.lib.safe_http`` fetches one file; its Location targets are not followed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from django.conf import settings

from catalog.descriptor import CatalogResult, Issue, is_within, load_location, validate_text
from portal.lib import gitfetch, safe_http
from portal.lib.yaml_safe import DEFAULT_MAX_BYTES

from .choices import SourceKind

__all__ = ["SourceError", "Source", "check_local_path", "classify", "read"]


class SourceError(Exception):
    """The source cannot be read (refused, unreachable, missing)."""


@dataclass
class Source:
    result: CatalogResult
    commit: str = ""


def _unknown_kinds() -> bool:
    return bool(getattr(settings, "CATALOG_ALLOW_UNKNOWN_KINDS", False))


def _parse_cache() -> str:
    """Where parsed catalog files are kept between processes (see descriptor.loader)."""
    return os.path.join(settings.DATA_DIR, "cache", "catalog-parse")


def check_local_path(path: str, trusted: bool) -> str:
    real = os.path.realpath(path)
    if not os.path.exists(real):
        raise SourceError(f"{path}: no such file or directory")
    if trusted:
        return real
    roots = [str(r) for r in settings.CATALOG_LOCAL_ROOTS]
    if not any(is_within(real, root) for root in roots):
        raise SourceError(f"refused: {path} is outside PORTAL_CATALOG_LOCAL_ROOTS "
                          f"({', '.join(roots)})")
    return real


def check_subpath(path: str) -> str:
    """A path inside a repository: relative, without '..'."""
    path = path.strip().strip("/")
    if not path:
        return ""
    if path.startswith("~") or ".." in PurePosixPath(path).parts or "\\" in path:
        raise SourceError(f"invalid path {path!r}: must stay inside the repository")
    return path


def classify(source: str, ref: str = "") -> str:
    """Which kind of location a source string names (the CLI and the API use this)."""
    lowered = source.strip().lower()
    if lowered.startswith("https://"):
        path = urlsplit(source.strip()).path.lower()
        return SourceKind.URL if path.endswith((".yaml", ".yml")) else SourceKind.GIT
    if lowered.startswith("file://"):
        return SourceKind.LOCAL
    if "://" in lowered or "::" in lowered or lowered.startswith(("git@", "ssh:")):
        raise SourceError(f"refused: {source!r}; sources are local paths or https URLs")
    if ref or os.path.isdir(os.path.join(source, ".git")) or _is_bare_repo(source):
        return SourceKind.GIT
    return SourceKind.LOCAL


def _is_bare_repo(path: str) -> bool:
    return all(os.path.exists(os.path.join(path, p)) for p in ("HEAD", "objects", "refs"))


def read(location, log: Callable[[str], None], secret: Callable[..., None]) -> Source:
    """Read and validate a location's descriptors. Raises SourceError when the source
    itself cannot be read; descriptor problems are in ``result.errors``."""
    if location.kind == SourceKind.LOCAL:
        target = location.target[7:] if location.target.lower().startswith("file://") else \
            location.target
        path = check_local_path(target, location.trusted)
        log(f"reading {path}")
        return Source(_nonempty(load_location(path, discover=os.path.isdir(path),
                                              allow_unknown_kinds=_unknown_kinds(),
                                              cache_dir=_parse_cache()), path))
    if location.kind == SourceKind.GIT:
        return _read_git(location, log, secret)
    if location.kind == SourceKind.URL:
        return _read_url(location, log, secret)
    raise SourceError(f"unknown location kind {location.kind!r}")


def _nonempty(result: CatalogResult, where: str) -> CatalogResult:
    if not result.files and not result.errors:
        result.add(Issue(where, 0, 0, None, None,
                         "no catalog-info.yaml (or catalog-info.yml) file found"))
    return result


def _read_git(location, log, secret) -> Source:
    token = location.token or None
    secret(token)
    sub = check_subpath(location.path)
    try:
        with gitfetch.fetch(location.target, location.ref, token,
                            allow_local=location.trusted, log=log) as checkout:
            start = os.path.join(checkout.path, sub) if sub else str(checkout.path)
            if not os.path.exists(start):
                raise SourceError(f"path {sub!r} does not exist at commit {checkout.commit}")
            if not is_within(start, str(checkout.path)):
                raise SourceError(f"path {sub!r} leaves the repository")
            log(f"reading {sub or 'every catalog file'} at commit {checkout.commit[:12]}")
            result = load_location(start, root=checkout.path, discover=os.path.isdir(start),
                                   allow_unknown_kinds=_unknown_kinds(),
                                   cache_dir=_parse_cache())
            return Source(_nonempty(result, sub or location.target), checkout.commit)
    except safe_http.FetchError as exc:
        raise SourceError(str(exc)) from None


def _read_url(location, log, secret) -> Source:
    token = location.token or None
    secret(token)
    headers = {"Authorization": f"token {token}"} if token else None
    log(f"downloading {location.target}")
    try:
        data = safe_http.get(location.target, allowed_hosts=settings.CATALOG_ALLOWED_HOSTS,
                             max_bytes=DEFAULT_MAX_BYTES,
                             timeout=settings.CATALOG_FETCH_TIMEOUT, headers=headers)
    except safe_http.FetchError as exc:
        raise SourceError(str(exc)) from None
    name = PurePosixPath(urlsplit(location.target).path).name or "catalog-info.yaml"
    result = validate_text(data, filename=name, allow_unknown_kinds=_unknown_kinds())
    for entity in result.entities:
        if entity.kind == "Location":
            result.add(Issue(name, entity.line, entity.column, entity.ref, "spec.targets",
                             "targets of a Location in a single-file URL source are not "
                             "followed; add them as locations of their own", "warning"))
    return Source(result)
