"""The catalog as Backstage's catalog backend serves it (read side), for the routes in
``backstage_api.py``. Pure reads: nothing here changes state.

* ``entity_json(entity, relations)``: an entity in Backstage's shape: the descriptor as
  written plus ``metadata.namespace`` (defaulted), ``metadata.uid``, ``metadata.etag``,
  the ``backstage.io/managed-by-location`` / ``managed-by-origin-location`` annotations and
  ``relations`` (``{type, targetRef, target}``, sorted).
* ``parse_filters(values)``: Backstage's ``filter`` query parameters: several parameters are
  ORed; within one, ``a=b,c=d`` are ANDed, a repeated key ORs its values, ``key`` alone
  means the key exists; keys and values compare case-insensitively.
* ``flatten(entity_json)``: the searchable ``{dotted.key: {values}}`` of an entity as
  Backstage's search table has it (lowercased; list items each a value; ``relations.<type>``
  holding the target refs).
* ``select(...)``: filter, full-text filter, order and project a set of entities.

Entity sets are read in one query for the entities and one for their relations; a filter
whose every alternative names ``kind`` is narrowed in SQL first.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .models import Entity, Location, Relation

__all__ = [
    "BadRequest",
    "Condition",
    "entity_json",
    "filter_matches",
    "flatten",
    "load",
    "location_json",
    "parse_fields",
    "parse_filters",
    "project",
    "sort_key",
    "full_text",
    "encode_cursor",
    "decode_cursor",
]

_LOCATION_TYPES = {"local": "file", "git": "url", "url": "url"}


class BadRequest(ValueError):
    """A query parameter Backstage would refuse with an InputError (400)."""


@dataclass(frozen=True)
class Condition:
    key: str  # lowercased dotted key
    values: tuple[str, ...] | None  # lowercased; None: the key must exist


Filter = list[Condition]  # ANDed


def parse_filters(values: Iterable[str]) -> list[Filter]:
    out: list[Filter] = []
    for text in values:
        by_key: dict[str, list[str] | None] = {}
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            key, eq, value = part.partition("=")
            key = key.strip().lower()
            if not key:
                raise BadRequest(f"Invalid filter, {part!r} has no key")
            if not eq:
                by_key.setdefault(key, None)
                continue
            current = by_key.get(key)
            by_key[key] = (current or []) + [value.strip().lower()]
        if by_key:
            out.append([Condition(k, tuple(v) if v is not None else None)
                        for k, v in by_key.items()])
    return out


def parse_fields(values: Iterable[str]) -> list[str]:
    return [f.strip() for v in values for f in v.split(",") if f.strip()]


def _add(out: dict[str, set[str]], key: str, value: Any, lower: bool) -> None:
    if isinstance(value, bool):
        out[key].add("true" if value else "false")
    elif isinstance(value, str | int | float):
        out[key].add(str(value).lower() if lower else str(value))
    elif value is None:
        out.setdefault(key, set())  # the key exists, with no value


def flatten(entity: dict[str, Any], *, lower: bool = True) -> dict[str, set[str]]:
    """Keys are always lowercased; values too unless ``lower=False`` (facets)."""
    out: dict[str, set[str]] = defaultdict(set)

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{str(k).lower()}" if prefix else str(k).lower(), v)
        elif isinstance(value, list):
            for item in value:
                if not isinstance(item, dict | list):
                    _add(out, prefix, item, lower)
        else:
            _add(out, prefix, value, lower)

    walk("", {k: v for k, v in entity.items() if k != "relations"})
    for rel in entity.get("relations", ()):
        out[f"relations.{rel['type'].lower()}"].add(rel["targetRef"])
    return dict(out)


def filter_matches(filters: list[Filter], flat: dict[str, set[str]]) -> bool:
    if not filters:
        return True
    for conditions in filters:
        if all(_holds(c, flat) for c in conditions):
            return True
    return False


def _holds(cond: Condition, flat: dict[str, set[str]]) -> bool:
    if cond.key not in flat:
        return False
    if cond.values is None:
        return True
    return any(v in flat[cond.key] for v in cond.values)


def _kinds_of(filters: list[Filter]) -> set[str] | None:
    """The kinds every alternative is limited to, or None when one is not."""
    if not filters:
        return None
    kinds: set[str] = set()
    for conditions in filters:
        mine = [c for c in conditions if c.key == "kind" and c.values is not None]
        if not mine:
            return None
        kinds.update(mine[0].values or ())
    return kinds


def entity_json(entity: Entity, relations: list[tuple[str, str]]) -> dict[str, Any]:
    raw: dict[str, Any] = copy.deepcopy(entity.raw) if isinstance(entity.raw, dict) else {}
    found = raw.get("metadata")
    meta: dict[str, Any] = found if isinstance(found, dict) else {}
    meta["namespace"] = meta.get("namespace") or "default"
    meta["uid"] = str(entity.uid)
    meta["etag"] = entity.fingerprint[:40] or entity.sha256[:40]
    meta.pop("generation", None)
    found = meta.get("annotations")
    annotations: dict[str, Any] = found if isinstance(found, dict) else {}
    loc = entity.location
    where = f"{_LOCATION_TYPES.get(loc.kind, 'url')}:{loc.target}"
    annotations.setdefault("backstage.io/managed-by-location", where)
    annotations.setdefault("backstage.io/managed-by-origin-location", where)
    meta["annotations"] = annotations
    raw["metadata"] = meta
    out: dict[str, Any] = {"apiVersion": raw.get("apiVersion"), "kind": raw.get("kind"),
                           "metadata": meta}
    if "spec" in raw:
        out["spec"] = raw["spec"]
    out["relations"] = [
        {"type": rtype, "targetRef": target, "target": _compound(target)}
        for rtype, target in sorted(set(relations))
    ]
    return out


def _compound(ref: str) -> dict[str, str]:
    kind, _, rest = ref.partition(":")
    namespace, _, name = rest.partition("/")
    return {"kind": kind, "namespace": namespace, "name": name}


def load(queryset=None, *, filters: list[Filter] | None = None) -> list[dict[str, Any]]:
    """Entities (all, or of ``queryset``) as Backstage JSON, in ref order; two queries."""
    qs = Entity.objects.all() if queryset is None else queryset
    kinds = _kinds_of(filters or [])
    if kinds is not None:
        qs = qs.filter(kind__in=kinds)
    rows = list(qs.select_related("location").order_by("ref"))
    rels: dict[str, list[tuple[str, str]]] = defaultdict(list)
    refs = [e.ref for e in rows]
    for start in range(0, len(refs), 2000):
        for source, rtype, target in Relation.objects.filter(
                source__in=refs[start:start + 2000]).values_list("source", "type", "target"):
            rels[source].append((rtype, target))
    return [entity_json(e, rels.get(e.ref, [])) for e in rows]


def project(entity: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """Only the given dotted fields (Backstage's ``fields=``), keeping their nesting."""
    if not fields:
        return entity
    out: dict[str, Any] = {}
    for dotted in fields:
        parts = dotted.split(".")
        node: Any = entity
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                node = _MISSING
                break
            node = node[part]
        if node is _MISSING:
            continue
        dst = out
        for part in parts[:-1]:
            dst = dst.setdefault(part, {})
        dst[parts[-1]] = node
    return out


_MISSING = object()


def sort_key(flat: dict[str, set[str]], field: str) -> tuple[int, str]:
    values = flat.get(field.lower())
    return (0, min(values)) if values else (1, "")


def full_text(term: str, fields: list[str], flat: dict[str, set[str]]) -> bool:
    term = term.lower()
    keys = [f.lower() for f in fields] or ["metadata.name", "metadata.title",
                                          "metadata.description", "spec.profile.displayname"]
    return any(term in v for k in keys for v in flat.get(k, ()))


def encode_cursor(data: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.b64decode(cursor.encode(), validate=True))
    except (ValueError, binascii.Error, UnicodeError):
        raise BadRequest("Malformed cursor, could not be parsed") from None
    if not isinstance(data, dict):
        raise BadRequest("Malformed cursor, could not be parsed")
    return data


def location_json(location: Location) -> dict[str, str]:
    return {"id": str(location.pk), "type": _LOCATION_TYPES.get(location.kind, "url"),
            "target": location.target}
