"""Well-known annotations: readers for the ones the portal uses, plus checks.

Readers (each takes ``metadata.annotations`` as a dict, returns None if absent):

``github_url(annotations) -> str | None``
    ``github.com/project-slug: org/repo`` -> ``https://github.com/org/repo``.
``source_location(annotations) -> LocationRef | None``
    ``backstage.io/source-location`` split into ``(type, target)``, where type
    is ``url`` or ``dir`` (a location reference string ``<type>:<target>``;
    the target may itself contain colons).
``techdocs_ref(annotations) -> LocationRef | None``
    ``backstage.io/techdocs-ref``, same format (``dir:.`` is the usual value).
``kubernetes_id`` / ``kubernetes_namespace`` / ``kubernetes_label_selector``
    The raw strings of ``backstage.io/kubernetes-id``,
    ``backstage.io/kubernetes-namespace`` and
    ``backstage.io/kubernetes-label-selector``.
``portal_environments(annotations) -> list[str]``
    The portal's own annotation ``eaas.portal/environments``: a
    comma-separated list of Environment entity names (``dev, test, prod``) a
    Component is deployed to. Names are stripped, lowercased, de-duplicated
    (order kept); each must be a valid entity name.
``well_known(annotations) -> dict``
    All of the above in one dict (keys: github_url, source_location,
    techdocs_ref, kubernetes_id, kubernetes_namespace,
    kubernetes_label_selector, environments).

``check_annotations(annotations) -> list[(key, message, severity)]``
    Used by validation. ``backstage.io/`` is reserved for Backstage core, so a
    key under it that is not in ``KNOWN_BACKSTAGE_ANNOTATIONS`` is a warning,
    as are deprecated ones and the ones the catalog sets itself
    (``managed-by-location`` ...). Malformed values of the annotations above
    are errors (environments) or warnings (the rest), because the portal acts
    on them.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .refs import is_valid_name

__all__ = [
    "ENVIRONMENTS_ANNOTATION",
    "KNOWN_BACKSTAGE_ANNOTATIONS",
    "LocationRef",
    "check_annotations",
    "github_url",
    "kubernetes_id",
    "kubernetes_label_selector",
    "kubernetes_namespace",
    "portal_environments",
    "source_location",
    "techdocs_ref",
    "well_known",
]

ENVIRONMENTS_ANNOTATION = "eaas.portal/environments"
GITHUB_SLUG = "github.com/project-slug"
SOURCE_LOCATION = "backstage.io/source-location"
TECHDOCS_REF = "backstage.io/techdocs-ref"
K8S_ID = "backstage.io/kubernetes-id"
K8S_NAMESPACE = "backstage.io/kubernetes-namespace"
K8S_SELECTOR = "backstage.io/kubernetes-label-selector"

# From Backstage's well-known-annotations.md and the kubernetes/techdocs/
# scaffolder plugins' docs (the ones in active use under the reserved prefix).
KNOWN_BACKSTAGE_ANNOTATIONS = frozenset(
    {
        "backstage.io/managed-by-location",
        "backstage.io/managed-by-origin-location",
        "backstage.io/orphan",
        "backstage.io/techdocs-ref",
        "backstage.io/techdocs-entity",
        "backstage.io/view-url",
        "backstage.io/edit-url",
        "backstage.io/source-location",
        "backstage.io/source-template",
        "backstage.io/time-saved",
        "backstage.io/code-coverage",
        "backstage.io/ldap-rdn",
        "backstage.io/ldap-uuid",
        "backstage.io/ldap-dn",
        "backstage.io/kubernetes-id",
        "backstage.io/kubernetes-namespace",
        "backstage.io/kubernetes-label-selector",
        "backstage.io/kubernetes-cluster",
        "backstage.io/adr-location",
        "backstage.io/github-actions-id",
        "backstage.io/definition-at-location",
    }
)
_DEPRECATED = {
    "backstage.io/github-actions-id": "use github.com/project-slug instead",
    "backstage.io/definition-at-location": "use a $text substitution instead",
}
# Set by the catalog while ingesting; a descriptor should not carry them.
_CATALOG_OWNED = frozenset(
    {
        "backstage.io/managed-by-location",
        "backstage.io/managed-by-origin-location",
        "backstage.io/orphan",
    }
)
_SLUG_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?/[A-Za-z0-9._-]+")


class LocationRef(NamedTuple):
    type: str
    target: str


def _location_ref(value: str | None) -> LocationRef | None:
    if not isinstance(value, str) or ":" not in value:
        return None
    kind, _, target = value.partition(":")
    if kind not in ("url", "dir", "file") or not target:
        return None
    return LocationRef(kind, target)


def github_url(annotations: dict) -> str | None:
    slug = annotations.get(GITHUB_SLUG)
    if isinstance(slug, str) and _SLUG_RE.fullmatch(slug.strip()):
        return f"https://github.com/{slug.strip()}"
    return None


def source_location(annotations: dict) -> LocationRef | None:
    return _location_ref(annotations.get(SOURCE_LOCATION))


def techdocs_ref(annotations: dict) -> LocationRef | None:
    return _location_ref(annotations.get(TECHDOCS_REF))


def kubernetes_id(annotations: dict) -> str | None:
    return annotations.get(K8S_ID) or None


def kubernetes_namespace(annotations: dict) -> str | None:
    return annotations.get(K8S_NAMESPACE) or None


def kubernetes_label_selector(annotations: dict) -> str | None:
    return annotations.get(K8S_SELECTOR) or None


def portal_environments(annotations: dict) -> list[str]:
    value = annotations.get(ENVIRONMENTS_ANNOTATION)
    if not isinstance(value, str):
        return []
    out: list[str] = []
    for part in value.split(","):
        name = part.strip().lower()
        if name and name not in out:
            out.append(name)
    return out


def well_known(annotations: dict) -> dict:
    return {
        "github_url": github_url(annotations),
        "source_location": source_location(annotations),
        "techdocs_ref": techdocs_ref(annotations),
        "kubernetes_id": kubernetes_id(annotations),
        "kubernetes_namespace": kubernetes_namespace(annotations),
        "kubernetes_label_selector": kubernetes_label_selector(annotations),
        "environments": portal_environments(annotations),
    }


def check_annotations(annotations: dict) -> list[tuple[str, str, str]]:
    """Return (key, message, severity) for suspicious well-known annotations.

    Key/value *format* is checked by the validator; this is about meaning.
    """
    out: list[tuple[str, str, str]] = []
    for key, value in annotations.items():
        if not isinstance(key, str) or not isinstance(value, str):
            continue
        if key.startswith("backstage.io/"):
            if key not in KNOWN_BACKSTAGE_ANNOTATIONS:
                out.append((key, "unknown annotation under the reserved 'backstage.io/' prefix",
                            "warning"))
            elif key in _DEPRECATED:
                out.append((key, f"deprecated annotation: {_DEPRECATED[key]}", "warning"))
            elif key in _CATALOG_OWNED:
                out.append((key, "is set by the catalog itself and should not be written",
                            "warning"))
    slug = annotations.get(GITHUB_SLUG)
    if isinstance(slug, str) and github_url(annotations) is None:
        out.append((GITHUB_SLUG, "expected '<organization>/<repository>'", "warning"))
    for key in (SOURCE_LOCATION, TECHDOCS_REF):
        val = annotations.get(key)
        if isinstance(val, str) and _location_ref(val) is None:
            out.append((key, "expected a location reference like 'url:https://...' or 'dir:.'",
                        "warning"))
    env = annotations.get(ENVIRONMENTS_ANNOTATION)
    if isinstance(env, str):
        names = portal_environments(annotations)
        bad = [n for n in names if not is_valid_name(n)]
        if not names:
            out.append((ENVIRONMENTS_ANNOTATION,
                        "expected a comma-separated list of environment names", "error"))
        elif bad:
            out.append((ENVIRONMENTS_ANNOTATION,
                        f"invalid environment name(s): {', '.join(bad)}", "error"))
    return out
