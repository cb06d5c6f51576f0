"""Relations between entities, in both directions, as Backstage emits them.

Public API
----------
``entity_relations(entity) -> list[Relation]``
    For one ``CatalogEntity``: for every reference field of its kind (see
    ``kinds.KINDS``) emit ``(self, outgoing, target)`` and
    ``(target, incoming, self)``. Pairs: ownedBy/ownerOf,
    partOf/hasPart (system, domain, subcomponentOf, subdomainOf),
    providesApi/apiProvidedBy, consumesApi/apiConsumedBy,
    dependsOn/dependencyOf, childOf/parentOf (group parent/children),
    memberOf/hasMember (user memberOf, group members).
``compute_relations(entities) -> list[Relation]``
    All relations of many entities, de-duplicated, in first-seen order (a
    group's ``members`` and a user's ``memberOf`` produce the same pair once).
``RELATION_PAIRS``
    ``{type: reverse_type}`` for every relation type above.

Refs are canonical lowercased ``kind:namespace/name`` strings; namespaces of
targets default to the referencing entity's namespace (Backstage's
``defaultNamespace: selfRef.namespace``).
"""

from __future__ import annotations

from collections.abc import Iterable

from .kinds import KINDS
from .model import CatalogEntity, Relation

__all__ = ["RELATION_PAIRS", "compute_relations", "entity_relations"]

RELATION_PAIRS: dict[str, str] = {}
for _spec in KINDS.values():
    for _rf in _spec.refs:
        if _rf.outgoing and _rf.incoming:
            RELATION_PAIRS[_rf.outgoing] = _rf.incoming
            RELATION_PAIRS[_rf.incoming] = _rf.outgoing


def entity_relations(entity: CatalogEntity) -> list[Relation]:
    rules = KINDS.get(entity.kind.lower())
    if rules is None:
        return []
    out: list[Relation] = []
    me = entity.ref
    for rf in rules.refs:
        if not rf.outgoing:
            continue
        assert rf.incoming is not None  # kinds.py declares relations in pairs
        for target in entity.refs.get(rf.field, ()):
            t = str(target)
            out.append(Relation(me, rf.outgoing, t))
            out.append(Relation(t, rf.incoming, me))
    return out


def compute_relations(entities: Iterable[CatalogEntity]) -> list[Relation]:
    seen: dict[Relation, None] = {}
    for entity in entities:
        for rel in entity_relations(entity):
            seen.setdefault(rel, None)
    return list(seen)
