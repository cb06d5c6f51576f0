"""Backstage catalog descriptor library (pure Python: no Django, no database).

Reads ``catalog-info.yaml`` files, validates them as Backstage entities,
follows ``Location`` entities, and computes relations in both directions.

Entry points
------------
``load_location(path_or_dir, root=None, *, discover=False, ...) -> CatalogResult``
    Load a catalog file or a repository directory (see ``loader``).
``validate_text(text, filename="catalog-info.yaml") -> CatalogResult``
    Validate a YAML string (dry run).

Building blocks
---------------
``parse_ref`` / ``EntityRef`` / ``RefError`` (``refs``): ``[kind:][ns/]name``.
``validate_entity`` / ``entity_sha256`` (``validate``): one YAML document.
``compute_relations`` / ``entity_relations`` / ``RELATION_PAIRS`` (``relations``).
``resolve_target`` / ``follow_locations`` / ``discover_catalog_files``
(``locations``): local Location handling under a root directory.
``parse_env_keys`` / ``read_env_keys`` (``envfile``): ``.env.example`` key names.
``well_known`` and friends (``annotations``): github.com/project-slug,
backstage.io/source-location, techdocs-ref, kubernetes-*, and the portal's
``eaas.portal/environments`` (comma-separated Environment names a Component
is deployed to).
``KINDS`` (``kinds``): the per-kind rule tables.

Records (``model``)
-------------------
``Issue(file, line, column, entity, field, message, severity)``;
``CatalogEntity(ref, kind, namespace, name, api_version, spec_type, lifecycle,
owner, system, title, description, tags, annotations, labels, links, raw, file,
line, column, sha256, refs, config_keys, environments)``;
``Relation(source, type, target)``;
``CatalogResult(entities, relations, errors, warnings, files, root)``.
"""

from .annotations import ENVIRONMENTS_ANNOTATION, portal_environments, well_known
from .envfile import parse_env_keys, read_env_keys
from .kinds import KINDS
from .loader import load_location, validate_text
from .locations import (
    LocationError,
    discover_catalog_files,
    follow_locations,
    is_within,
    resolve_target,
)
from .model import CatalogEntity, CatalogResult, Issue, Relation
from .refs import EntityRef, RefError, make_ref, parse_ref
from .relations import RELATION_PAIRS, compute_relations, entity_relations
from .validate import entity_sha256, validate_entity

__all__ = [
    "ENVIRONMENTS_ANNOTATION",
    "KINDS",
    "RELATION_PAIRS",
    "CatalogEntity",
    "CatalogResult",
    "EntityRef",
    "Issue",
    "LocationError",
    "RefError",
    "Relation",
    "compute_relations",
    "discover_catalog_files",
    "entity_relations",
    "entity_sha256",
    "follow_locations",
    "is_within",
    "load_location",
    "make_ref",
    "parse_env_keys",
    "parse_ref",
    "portal_environments",
    "read_env_keys",
    "resolve_target",
    "validate_entity",
    "validate_text",
    "well_known",
]
