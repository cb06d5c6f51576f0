"""Top-level entry points: read files, follow Locations, validate, relate.

Public API
----------
``load_location(path_or_dir, root=None, *, discover=False, max_depth=8,
max_files=2000, max_bytes=1 MiB, allow_unknown_kinds=False) -> CatalogResult``
    ``path_or_dir`` is a catalog file, or a directory: then its
    ``catalog-info.yaml`` is the start file, or -- when it has none, or when
    ``discover=True`` -- every catalog file found below it. Location entities
    are followed (relative to their own file, never leaving ``root``, which
    defaults to the directory given / the file's directory). Then:
    duplicate entities (same ref twice) are errors naming both files;
    Components get ``config_keys`` from the ``.env.example`` next to their
    catalog file, else the one at ``root``; references to entities that were
    not loaded and ``eaas.portal/environments`` names without a matching
    Environment entity are warnings; relations are computed in both
    directions. File paths in the result are relative to ``root``.
    Each file's parse (entities, issues, targets, relations) is cached per
    process by root-relative name and content hash: an unchanged file is not
    parsed or validated again (``clear_cache()`` empties it). With ``cache_dir``
    the parse is also kept there (keyed by the same and by a hash of this
    code), so a fresh process reads it back instead of parsing again.
``validate_text(text, filename="catalog-info.yaml", *, allow_unknown_kinds=False)``
    Validate a YAML string (dry-run API): same per-entity checks and
    duplicate detection; nothing is read from disk, Location targets are not
    followed, no config keys, and no warnings about references to entities
    outside the text (a single file rarely defines its owner group).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import threading
import time
from collections import OrderedDict
from dataclasses import replace

from portal.lib import yaml_safe
from portal.lib.yaml_safe import DEFAULT_MAX_BYTES, YamlDocument, YamlError, load_all

from .envfile import read_env_keys
from .locations import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_FILES,
    Target,
    discover_catalog_files,
    follow_locations,
    is_within,
)
from .model import CatalogEntity, CatalogResult, Issue, Relation
from .relations import entity_relations
from .validate import validate_entity

__all__ = ["clear_cache", "load_location", "validate_text"]

_ENV_FILE = ".env.example"
_ENV_KEY = ("metadata", "annotations", "eaas.portal/environments")

# Per parsed file: entities, issues, location targets, and the positions of
# reference fields (for warnings computed once everything is loaded).
_Positions = dict[str, dict[tuple, tuple[int, int]]]


class _Parsed:
    __slots__ = ("entities", "issues", "targets", "positions", "relations")

    def __init__(self) -> None:
        self.entities: list[CatalogEntity] = []
        self.issues: list[Issue] = []
        self.targets: list[Target] = []
        self.positions: _Positions = {}
        # Relations of each entity (same order as ``entities``), computed once.
        self.relations: list[list[Relation]] | None = None


# What a file parses to depends only on its bytes, its root-relative name and the
# unknown-kinds switch: a re-import reuses the result of every unchanged file (a refresh
# re-parses only what changed). Bounded by the entities held; per process.
_CACHE_MAX_ENTITIES = 60_000
_cache: OrderedDict[tuple[str, str, bool], _Parsed] = OrderedDict()
_cache_entities = 0
_cache_lock = threading.Lock()


def _code_version() -> str:
    """A hash of the code a parse depends on: a cached parse of older code is not used."""
    here = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    sources = sorted(os.path.join(here, n) for n in os.listdir(here) if n.endswith(".py"))
    sources.append(os.path.abspath(yaml_safe.__file__))
    for source in sources:
        with open(source, "rb") as fh:
            digest.update(fh.read())
    return digest.hexdigest()[:16]


_CODE_VERSION = _code_version()
_DISK_MAX_AGE = 14 * 86400  # a cached parse unused this long is deleted


def _disk_get(cache_dir: str | None, name: str) -> _Parsed | None:
    if not cache_dir:
        return None
    path = os.path.join(cache_dir, name)
    try:
        with open(path, "rb") as fh:
            # Our own cache directory under PORTAL_DATA_DIR, written only by this code
            # (whoever can write there can already replace the database and the keys).
            value = pickle.load(fh)  # noqa: S301
        os.utime(path)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError,
            ValueError, ImportError, IndexError):
        return None
    return value if isinstance(value, _Parsed) else None


def _disk_put(cache_dir: str | None, name: str, parsed: _Parsed) -> None:
    if not cache_dir:
        return
    try:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = os.path.join(cache_dir, f".{name}.{os.getpid()}.{threading.get_ident()}")
        with open(tmp, "wb") as fh:
            pickle.dump(parsed, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, os.path.join(cache_dir, name))
        if random.random() < 0.01:
            _disk_prune(cache_dir)
    except (OSError, pickle.PicklingError, RecursionError):
        pass  # a cache: failing to write it only costs the next import a parse


def _disk_prune(cache_dir: str) -> None:
    cutoff = time.time() - _DISK_MAX_AGE
    with os.scandir(cache_dir) as entries:
        for entry in entries:
            try:
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
            except OSError:
                continue


def _cached_parse(path: str, file: str, allow_unknown_kinds: bool, max_bytes: int,
                  cache_dir: str | None = None) -> _Parsed:
    global _cache_entities
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        return _parse(YamlError(f"cannot read file: {exc.strerror or exc}"), file)
    if len(data) > max_bytes:
        return _parse(YamlError(f"YAML file is larger than the {max_bytes} byte limit"), file)
    key = (file, hashlib.sha256(data).hexdigest(), allow_unknown_kinds)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    name = hashlib.sha256(repr((_CODE_VERSION, *key)).encode()).hexdigest() + ".pickle"
    found = _disk_get(cache_dir, name)
    if found is not None:
        parsed = found
    else:
        try:
            docs: list | YamlError = load_all(data, max_bytes=max_bytes)
        except YamlError as exc:
            docs = exc
        parsed = _parse(docs, file, allow_unknown_kinds)
        parsed.relations = [entity_relations(e) for e in parsed.entities]
        _disk_put(cache_dir, name, parsed)
    with _cache_lock:
        _cache[key] = parsed
        _cache_entities += len(parsed.entities) + 1
        while _cache_entities > _CACHE_MAX_ENTITIES and len(_cache) > 1:
            _old, dropped = _cache.popitem(last=False)
            _cache_entities -= len(dropped.entities) + 1
    return parsed


def clear_cache() -> None:
    global _cache_entities
    with _cache_lock:
        _cache.clear()
        _cache_entities = 0


def _parse(
    docs_or_error: list | YamlError, file: str, allow_unknown_kinds: bool = False
) -> _Parsed:
    out = _Parsed()
    if isinstance(docs_or_error, YamlError):
        e = docs_or_error
        out.issues.append(Issue(file, e.line, e.column, None, None, e.message))
        return out
    for doc in docs_or_error:
        if doc.value is None:
            continue  # an empty document (e.g. a trailing '---') is not an entity
        entity = validate_entity(doc, file, out.issues, allow_unknown_kinds=allow_unknown_kinds)
        if entity is None:
            continue
        out.entities.append(entity)
        out.positions[entity.ref] = {
            path: doc.mark(path)
            for path in [("spec", f) for f in entity.refs] + [_ENV_KEY]
        }
        if entity.kind == "Location":
            out.targets.extend(_location_targets(entity, doc, file))
    return out


def _location_targets(entity: CatalogEntity, doc: YamlDocument, file: str) -> list[Target]:
    spec = entity.spec
    presence = spec.get("presence") or "required"
    items: list[tuple[tuple, str]] = []
    if isinstance(spec.get("target"), str):
        items.append((("spec", "target"), spec["target"]))
    for i, t in enumerate(spec.get("targets") or []):
        items.append((("spec", "targets", i), t))
    return [
        Target(t, presence, file, *doc.mark(path), entity.ref, ".".join(map(str, path)))
        for path, t in items
    ]


def load_location(
    path_or_dir: str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    *,
    discover: bool = False,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_files: int = DEFAULT_MAX_FILES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allow_unknown_kinds: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> CatalogResult:
    start_path = os.path.abspath(path_or_dir)
    is_dir = os.path.isdir(start_path)
    root_dir = os.path.realpath(root or (start_path if is_dir else os.path.dirname(start_path)))
    result = CatalogResult(root=root_dir)
    if not os.path.exists(start_path) or not is_within(start_path, root_dir):
        result.add(Issue(str(path_or_dir), 0, 0, None, None,
                         "path does not exist or is outside the root directory"))
        return result

    if is_dir:
        own = [os.path.join(start_path, "catalog-info.yaml")]
        start = [p for p in own if os.path.isfile(p)]
        if discover or not start:
            start += discover_catalog_files(start_path)
    else:
        start = [start_path]

    parsed: dict[str, _Parsed] = {}

    def targets_of(path: str) -> list[Target]:
        if path not in parsed:
            # Issues and entities carry root-relative paths from the start;
            # Target.file is resolved against the root again when followed.
            parsed[path] = _cached_parse(path, _rel(path, root_dir), allow_unknown_kinds,
                                         max_bytes, os.fspath(cache_dir) if cache_dir else None)
        return parsed[path].targets

    files, follow_issues = follow_locations(
        start, root_dir, targets_of, max_depth=max_depth, max_files=max_files
    )
    follow_issues = [replace(i, file=_rel(i.file, root_dir)) for i in follow_issues]
    _assemble(
        result,
        [(_rel(f, root_dir), parsed[f]) for f in files if f in parsed],
        follow_issues,
        root_dir,
    )
    return result


def validate_text(
    text: str | bytes, filename: str = "catalog-info.yaml", *, allow_unknown_kinds: bool = False
) -> CatalogResult:
    result = CatalogResult()
    try:
        docs: list | YamlError = load_all(text)
    except YamlError as exc:
        docs = exc
    _assemble(result, [(filename, _parse(docs, filename, allow_unknown_kinds))], [], None,
              cross_checks=False)
    return result


def _assemble(
    result: CatalogResult,
    parsed: list[tuple[str, _Parsed]],
    extra: list[Issue],
    root: str | None,
    cross_checks: bool = True,
) -> None:
    seen: dict[str, CatalogEntity] = {}
    positions: _Positions = {}
    env_cache: dict[str, list[str]] = {}
    relations: dict[Relation, None] = {}
    for file, p in parsed:
        if p.relations is None:
            p.relations = [entity_relations(e) for e in p.entities]
        result.files.append(file)
        for issue in p.issues:
            result.add(issue)
        for entity, emitted in zip(p.entities, p.relations, strict=True):
            first = seen.get(entity.ref)
            if first is not None:
                result.add(Issue(file, entity.line, entity.column, entity.ref, "metadata.name",
                                 f"duplicate entity {entity.ref}: also defined in "
                                 f"{_rel(first.file, root)} line {first.line}"))
                continue
            seen[entity.ref] = entity
            positions[entity.ref] = p.positions[entity.ref]
            for rel in emitted:
                relations.setdefault(rel, None)
            if root is not None and entity.kind == "Component":
                entity.config_keys = _config_keys(file, root, env_cache, result)
            result.entities.append(entity)
    for issue in extra:
        result.add(issue)
    if cross_checks:
        _dangling_warnings(result, seen, positions)
    result.relations = list(relations)


def _config_keys(
    file: str, root: str, cache: dict[str, list[str]], result: CatalogResult
) -> list[str]:
    for directory in (os.path.join(root, os.path.dirname(file)), root):
        env = os.path.join(directory, _ENV_FILE)
        if env not in cache:
            try:
                cache[env] = read_env_keys(env) if is_within(env, root) else []
            except (OSError, ValueError) as exc:
                result.add(Issue(_rel(env, root), 0, 0, None, None,
                                 f"cannot read {_ENV_FILE}: {exc}", "warning"))
                cache[env] = []
        if cache[env] or os.path.isfile(env):
            return list(cache[env])
    return []


def _dangling_warnings(
    result: CatalogResult, seen: dict[str, CatalogEntity], positions: _Positions
) -> None:
    """Warn about references to entities that are not part of what was loaded."""
    for entity in result.entities:
        pos = positions.get(entity.ref, {})
        for fld, targets in entity.refs.items():
            for target in targets:
                if str(target) not in seen:
                    line, col = pos.get(("spec", fld), (entity.line, entity.column))
                    result.add(Issue(entity.file, line, col, entity.ref, f"spec.{fld}",
                                     f"refers to {target}, which is not defined in the "
                                     "loaded catalog files", "warning"))
        for env in entity.environments:
            if f"environment:{entity.namespace}/{env}" not in seen:
                line, col = pos.get(_ENV_KEY, (entity.line, entity.column))
                result.add(Issue(entity.file, line, col, entity.ref, ".".join(_ENV_KEY),
                                 f"environment {env!r} is not defined as an Environment "
                                 "entity", "warning"))


def _rel(path: str, root: str | None) -> str:
    """``path`` relative to ``root`` as a POSIX path (unchanged if not absolute)."""
    if root is None or not os.path.isabs(path):
        return path
    prefix = root.rstrip(os.sep) + os.sep
    if path.startswith(prefix):  # the common case; avoids relpath's cost
        return path[len(prefix) :].replace(os.sep, "/")
    return os.path.relpath(path, root).replace(os.sep, "/")
