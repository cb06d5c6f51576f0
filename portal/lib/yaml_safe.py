"""Bounded, safe, multi-document YAML loading with source positions.

Public API
----------
``load_all(data, *, max_bytes=1 MiB, max_documents=1000, max_nodes=200_000,
max_depth=64) -> list[YamlDocument]``
    Parse every document of a YAML stream (``str`` or ``bytes``).
``load_file(path, **limits) -> list[YamlDocument]``
    Same, reading a file (the size cap is checked before reading it all).
``YamlDocument(value, marks, line, column)``
    ``value`` is the plain Python value (dict/list/str/int/float/bool/None).
    ``marks`` maps a field path tuple -- e.g. ``("spec", "owner")`` or
    ``("spec", "steps", 0)`` -- to the 1-based ``(line, column)`` of that
    mapping key / sequence item; ``()`` is the document's first node.
    ``doc.mark(path)`` returns the position of the longest known prefix, so a
    missing field points at its parent (ultimately the document start).
``YamlError(message, line, column)``
    Raised for syntax errors and refused input; positions are 1-based (0 if
    unknown).

Safety model (why it is built on events, not ``yaml.safe_load``)
---------------------------------------------------------------
* We iterate parser *events* (libyaml ``CSafeLoader`` when available) and
  build values ourselves with an explicit stack: no recursion (deep nesting
  cannot blow the C or Python stack) and every limit is checked while the
  stream is read, before any large structure exists.
* Anchors and aliases are refused at the first anchor/alias event, so a
  "billion laughs" document costs a few hundred bytes of parsing.
* Only the YAML core tags (str, int, float, bool, null, seq, map) are
  accepted; ``!!python/*``, ``!!binary``, ``!!set``, merge keys (``<<``) and
  custom ``!tags`` are refused.
* Plain scalars are resolved with YAML 1.2 core-schema rules, as Backstage's
  JavaScript parser does: ``yes``/``on`` stay strings, ``2024-01-01`` stays a
  string (no datetime objects), ``1_000`` stays a string.
* Mapping keys must be scalars and are always returned as strings (JSON
  semantics); duplicate keys in one mapping are an error.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

_Loader: type[yaml.CSafeLoader] | type[yaml.SafeLoader]
try:  # libyaml is ~10x faster; fall back to the pure-Python parser if absent.
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader

__all__ = ["YamlDocument", "YamlError", "load_all", "load_file"]

DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_MAX_DOCUMENTS = 1000
DEFAULT_MAX_NODES = 200_000
DEFAULT_MAX_DEPTH = 64

Path = tuple[str | int, ...]

_T = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_T + n for n in ("str", "int", "float", "bool", "null"))
_SEQ, _MAP = _T + "seq", _T + "map"
_SCALAR_TAGS = frozenset({_STR, _INT, _FLOAT, _BOOL, _NULL})

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_INT_DEC = re.compile(r"[-+]?[0-9]+")
_INT_OCT = re.compile(r"0o[0-7]+")
_INT_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT_RE = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF = frozenset({".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"})
_NINF = frozenset({"-.inf", "-.Inf", "-.INF"})
_NAN = frozenset({".nan", ".NaN", ".NAN"})
# First characters that can start a non-string plain scalar; anything else is
# a string, which keeps the common case (names, refs, prose) to one set lookup.
_SPECIAL_FIRST = frozenset("0123456789+-.~nNtTfF")


class YamlError(ValueError):
    """A YAML document could not be parsed or was refused."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        if self.line:
            return f"{self.message} (line {self.line}, column {self.column})"
        return self.message


@dataclass
class YamlDocument:
    """One parsed document: its value plus the positions of its fields."""

    value: Any
    marks: dict[Path, tuple[int, int]] = field(default_factory=dict)
    line: int = 1
    column: int = 1

    def mark(self, path: Path = ()) -> tuple[int, int]:
        """(line, column) of ``path``, or of its closest recorded ancestor."""
        marks = self.marks
        for end in range(len(path), -1, -1):
            pos = marks.get(tuple(path[:end]))
            if pos is not None:
                return pos
        return (self.line, self.column)


def _resolve_plain(value: str) -> Any:
    """Resolve an untagged plain scalar with YAML 1.2 core-schema rules."""
    if not value:
        return None
    if value[0] not in _SPECIAL_FIRST:
        return value
    if value in _NULLS:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if _INT_DEC.fullmatch(value):
        return int(value, 10)
    if _INT_OCT.fullmatch(value):
        return int(value[2:], 8)
    if _INT_HEX.fullmatch(value):
        return int(value[2:], 16)
    if _FLOAT_RE.fullmatch(value):
        return float(value)
    if value in _INF:
        return math.inf
    if value in _NINF:
        return -math.inf
    if value in _NAN:
        return math.nan
    return value


def _resolve_tagged(tag: str, value: str, line: int, col: int) -> Any:
    """Apply an explicit core tag such as ``!!int "3"``."""
    if tag == _STR:
        return value
    resolved = _resolve_plain(value)
    tag_types: dict[str, type | tuple[type, ...]] = {
        _INT: int, _FLOAT: (int, float), _BOOL: bool, _NULL: type(None)}
    expected = tag_types[tag]
    if isinstance(resolved, bool) and tag != _BOOL or not isinstance(resolved, expected):
        raise YamlError(f"value {value!r} does not match its tag {tag}", line, col)
    return float(resolved) if tag == _FLOAT else resolved


def _scalar(ev: Any, line: int, col: int) -> Any:
    tag = ev.tag
    if tag is None or tag == "!":
        # No explicit tag: plain scalars are resolved, quoted/block ones are strings.
        # (libyaml reports the plain style as "", the Python parser as None.)
        return _resolve_plain(ev.value) if ev.implicit[0] and not ev.style else ev.value
    if tag not in _SCALAR_TAGS:
        raise YamlError(f"YAML tag {tag!r} is not allowed (only core tags)", line, col)
    return _resolve_tagged(tag, ev.value, line, col)


def _check_collection_tag(ev: Any, expected: str, line: int, col: int) -> None:
    if ev.tag is not None and ev.tag != "!" and ev.tag != expected:
        raise YamlError(f"YAML tag {ev.tag!r} is not allowed (only core tags)", line, col)


def load_all(
    data: str | bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_documents: int = DEFAULT_MAX_DOCUMENTS,
    max_nodes: int = DEFAULT_MAX_NODES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> list[YamlDocument]:
    """Parse a YAML stream into documents; raise YamlError on anything unsafe."""
    size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
    if size > max_bytes:
        raise YamlError(f"YAML input is {size} bytes, larger than the {max_bytes} byte limit")
    docs: list[YamlDocument] = []
    try:
        _build(data, docs, max_documents, max_nodes, max_depth)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        msg = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise YamlError(f"YAML syntax error: {msg}", line, col) from None
    except yaml.YAMLError as exc:  # e.g. reader errors on invalid characters
        raise YamlError(f"YAML error: {exc}") from None
    return docs


def load_file(path: str | os.PathLike[str], **limits: int) -> list[YamlDocument]:
    """Read and parse a YAML file, refusing it early when it exceeds max_bytes."""
    max_bytes = limits.get("max_bytes", DEFAULT_MAX_BYTES)
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise YamlError(f"YAML file is larger than the {max_bytes} byte limit")
    return load_all(data, **limits)


def _build(
    data: str | bytes, docs: list[YamlDocument], max_documents: int, max_nodes: int, max_depth: int
) -> None:
    # Each stack frame is a list:
    #   mapping:  [dict, path, pending_key_or_None, key_mark]
    #   sequence: [list, path, next_index]
    # ``marks`` records the start of every mapping key and sequence item.
    E = yaml.events
    nodes = 0
    stack: list[list[Any]] = []
    doc: YamlDocument | None = None
    marks: dict[Path, tuple[int, int]] = {}
    loader = _Loader(data)
    try:
        while True:
            # Any: events are dispatched on their exact class below (cheaper than isinstance
            # on every node), which mypy cannot narrow; parser events always carry marks.
            ev: Any = loader.get_event()
            if ev is None:
                break
            cls = ev.__class__
            if cls is E.DocumentStartEvent:
                if len(docs) >= max_documents:
                    raise YamlError(
                        f"more than {max_documents} YAML documents",
                        ev.start_mark.line + 1,
                        ev.start_mark.column + 1,
                    )
                marks = {}
                doc = YamlDocument(None, marks, ev.start_mark.line + 1, ev.start_mark.column + 1)
                continue
            if cls is E.DocumentEndEvent:
                assert doc is not None  # the parser starts every document it ends
                docs.append(doc)
                continue
            if cls is E.StreamStartEvent or cls is E.StreamEndEvent:
                continue
            if cls is E.MappingEndEvent or cls is E.SequenceEndEvent:
                frame = stack.pop()
                _attach(frame[0], stack, doc, ev)
                continue
            sm = ev.start_mark
            line, col = sm.line + 1, sm.column + 1
            if cls is E.AliasEvent or getattr(ev, "anchor", None) is not None:
                raise YamlError("YAML anchors and aliases are not allowed", line, col)
            nodes += 1
            if nodes > max_nodes:
                raise YamlError(f"more than {max_nodes} YAML nodes", line, col)
            if not stack:
                marks[()] = (line, col)
                assert doc is not None  # nodes only come inside a document
                doc.line, doc.column = line, col
                parent_path: Path = ()
            else:
                top = stack[-1]
                if top[0].__class__ is dict:
                    if top[2] is None:  # this node is a key
                        if cls is not E.ScalarEvent:
                            raise YamlError("mapping keys must be scalars", line, col)
                        if ev.tag == _T + "merge" or (ev.value == "<<" and not ev.style):
                            raise YamlError("YAML merge keys (<<) are not allowed", line, col)
                        if ev.tag is not None and ev.tag not in _SCALAR_TAGS and ev.tag != "!":
                            raise YamlError(f"YAML tag {ev.tag!r} is not allowed", line, col)
                        key = ev.value
                        if key in top[0]:
                            raise YamlError(f"duplicate mapping key {key!r}", line, col)
                        top[2] = key
                        marks[top[1] + (key,)] = (line, col)
                        continue
                    parent_path = top[1] + (top[2],)
                else:
                    parent_path = top[1] + (top[2],)
                    marks[parent_path] = (line, col)
            if cls is E.ScalarEvent:
                _attach(_scalar(ev, line, col), stack, doc, ev)
            elif cls is E.MappingStartEvent:
                _check_collection_tag(ev, _MAP, line, col)
                if len(stack) >= max_depth:
                    raise YamlError(f"YAML nesting deeper than {max_depth}", line, col)
                stack.append([{}, parent_path, None, None])
            elif cls is E.SequenceStartEvent:
                _check_collection_tag(ev, _SEQ, line, col)
                if len(stack) >= max_depth:
                    raise YamlError(f"YAML nesting deeper than {max_depth}", line, col)
                stack.append([[], parent_path, 0])
    finally:
        loader.dispose()


def _attach(value: Any, stack: list[list[Any]], doc: YamlDocument | None, ev: Any) -> None:
    """Store a finished value in its parent container (or as the document root)."""
    if not stack:
        assert doc is not None  # nodes only come inside a document
        doc.value = value
        return
    top = stack[-1]
    container = top[0]
    if container.__class__ is dict:
        container[top[2]] = value
        top[2] = None
    else:
        container.append(value)
        top[2] += 1
