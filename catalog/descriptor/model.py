"""Record types produced by the descriptor library (plain dataclasses, no Django).

``Issue``
    One validation problem. ``severity`` is ``"error"`` or ``"warning"``;
    ``line``/``column`` are 1-based and point at the offending field, or at
    the entity (document) start when the field is missing, or are 0 when the
    problem concerns a whole file (unreadable, YAML refused before parsing).
    ``entity`` is ``"kind:namespace/name"`` lowercased or None; ``field`` is a
    dotted path such as ``"spec.owner"`` or ``"spec.steps.0.action"`` (None
    for file-level problems). ``to_dict()`` gives a JSON-ready dict.

``CatalogEntity``
    One valid (or warning-only) entity. ``refs`` holds the parsed entity
    references per spec field (``{"owner": [EntityRef], ...}``) from which
    relations are computed.

``Relation``
    ``(source, type, target)`` NamedTuple of canonical ref strings.

``CatalogResult``
    What every top-level call returns: ``entities``, ``relations``,
    ``errors``, ``warnings``, ``files`` (files read, in order) and ``root``.
    Every ``file`` (in ``files``, entities and issues) is a POSIX path
    relative to ``root`` when one is known (``load_location``), else the name
    given to ``validate_text``.
    ``ok`` is True when there are no errors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from .refs import EntityRef

__all__ = ["CatalogEntity", "CatalogResult", "Issue", "Relation"]


@dataclass(frozen=True, slots=True)
class Issue:
    file: str
    line: int
    column: int
    entity: str | None
    field: str | None
    message: str
    severity: str = "error"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        what = f" [{self.entity}]" if self.entity else ""
        fld = f" {self.field}:" if self.field else ""
        return f"{where}: {self.severity}{what}{fld} {self.message}"


class Relation(NamedTuple):
    source: str
    type: str
    target: str


@dataclass(slots=True)
class CatalogEntity:
    ref: str
    kind: str  # as written, e.g. "Component"
    namespace: str  # lowercased
    name: str  # as written
    api_version: str
    spec_type: str | None
    lifecycle: str | None
    owner: str | None  # canonical ref string, e.g. "group:default/team-a"
    system: str | None
    title: str | None
    description: str | None
    tags: list[str]
    annotations: dict[str, str]
    labels: dict[str, str]
    links: list[dict[str, Any]]
    raw: dict[str, Any]
    file: str
    line: int
    column: int
    sha256: str
    refs: dict[str, list[EntityRef]] = field(default_factory=dict)
    config_keys: list[str] = field(default_factory=list)
    environments: list[str] = field(default_factory=list)

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.raw.get("spec")
        return spec if isinstance(spec, dict) else {}

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "refs"}
        data["refs"] = {k: [str(r) for r in v] for k, v in self.refs.items()}
        return data


@dataclass
class CatalogResult:
    entities: list[CatalogEntity] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    root: str | None = None  # absolute root; ``file`` fields are relative to it

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, issue: Issue) -> None:
        (self.errors if issue.severity == "error" else self.warnings).append(issue)

    def by_ref(self) -> dict[str, CatalogEntity]:
        return {e.ref: e for e in self.entities}
