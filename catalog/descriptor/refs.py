"""Entity references and the field-format rules of the Backstage catalog model.

Public API
----------
``EntityRef(kind, namespace, name)``
    A NamedTuple, always lowercased (Backstage compares refs
    case-insensitively). ``str(ref)`` is the canonical ``kind:namespace/name``.
``parse_ref(value, *, default_kind=None, default_namespace="default") -> EntityRef``
    Parse ``[kind:][namespace/]name``. Raises ``RefError`` when a part is empty
    or when no kind is given and the field has no default kind (Backstage's
    ``dependsOn``/``dependencyOf``).
``make_ref(kind, name, namespace="default") -> EntityRef``
Field validators (all take any value, return bool; mirror Backstage's
``KubernetesValidatorFunctions``/``CommonValidatorFunctions`` and
``FieldFormatEntityPolicy``):
``is_valid_name`` (1-63 chars of ``[A-Za-z0-9-_.]``, starting and ending
alphanumeric: runs of separators such as ``a--b`` are allowed, as Backstage's
pattern allows them), ``is_valid_namespace`` (DNS label, 1-63, ``[a-z0-9]``
runs joined by one or more ``-``; lower case only, as Backstage checks it
without lowercasing), ``is_valid_dns_subdomain``, ``is_valid_kind``,
``is_valid_api_version``, ``is_valid_label_key``/``is_valid_annotation_key``
(optional DNS-subdomain prefix + ``/`` + name), ``is_valid_label_value``
(empty or a valid name), ``is_valid_tag`` (``[a-z0-9:+#]`` runs separated by
``-``, max 63; the ``:`` is allowed by current Backstage docs).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple, TypeGuard

__all__ = [
    "EntityRef",
    "RefError",
    "is_valid_annotation_key",
    "is_valid_api_version",
    "is_valid_dns_label",
    "is_valid_dns_subdomain",
    "is_valid_kind",
    "is_valid_label_key",
    "is_valid_label_value",
    "is_valid_name",
    "is_valid_namespace",
    "is_valid_tag",
    "make_ref",
    "parse_ref",
]

# Compiled once at import: validation runs per field of every entity.
# Backstage's actual patterns (KubernetesValidatorFunctions.isValidObjectName,
# CommonValidatorFunctions.isValidDnsLabel): runs of separators are allowed,
# whatever its error text says ("separated by [-_.]").
_NAME_RE = re.compile(r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_LABEL_RE = re.compile(r"[a-z0-9]+(?:-+[a-z0-9]+)*")
_KIND_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9]*")
_API_SUFFIX_RE = re.compile(r"[a-zA-Z0-9]+")
_TAG_RE = re.compile(r"[a-z0-9:+#]+(?:-[a-z0-9:+#]+)*")


class RefError(ValueError):
    """An entity reference string could not be parsed."""


class EntityRef(NamedTuple):
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.namespace}/{self.name}"


def make_ref(kind: str, name: str, namespace: str = "default") -> EntityRef:
    """Build a normalised (lowercased) reference."""
    return EntityRef(kind.lower(), (namespace or "default").lower(), name.lower())


def parse_ref(
    value: Any, *, default_kind: str | None = None, default_namespace: str = "default"
) -> EntityRef:
    """Parse ``[kind:][namespace/]name`` the way Backstage's parseEntityRef does.

    A ``:`` that comes after the first ``/`` belongs to the name, so
    ``ns/a:b`` is namespace ``ns`` and name ``a:b``.
    """
    if not isinstance(value, str):
        raise RefError(f"entity reference must be a string, got {type(value).__name__}")
    text = value.strip()
    if not text:
        if value:
            raise RefError(
                f"entity reference {value!r} is only spaces; Backstage keeps it as a relation "
                "that can never resolve, the portal refuses it"
            )
        raise RefError("entity reference must not be empty")
    colon = text.find(":")
    slash = text.find("/")
    if slash != -1 and slash < colon:
        colon = -1
    kind = text[:colon] if colon != -1 else None
    namespace = text[colon + 1 : slash] if slash != -1 else None
    name = text[max(colon + 1, slash + 1) :]
    if kind == "" or namespace == "" or name == "":
        raise RefError(f"entity reference {value!r} has an empty kind, namespace or name")
    if "/" in name:
        raise RefError(
            f"entity reference {value!r} has more than one '/'; Backstage keeps it (as the "
            f"name {name!r}) as a relation that can never resolve, the portal refuses it"
        )
    if kind is None:
        if not default_kind:
            raise RefError(
                f"entity reference {value!r} must include a kind, e.g. 'component:{text}'"
            )
        kind = default_kind
    return EntityRef(kind.lower(), (namespace or default_namespace).lower(), name.lower())


def is_valid_name(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= 63 and bool(_NAME_RE.fullmatch(value))


def is_valid_dns_label(value: Any) -> bool:
    return (
        isinstance(value, str) and 0 < len(value) <= 63 and bool(_DNS_LABEL_RE.fullmatch(value))
    )


def is_valid_namespace(value: Any) -> TypeGuard[str]:
    # Not lowercased first: Backstage refuses an upper-case namespace.
    return isinstance(value, str) and is_valid_dns_label(value)


def is_valid_dns_subdomain(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= 253
        and all(is_valid_dns_label(part) for part in value.split("."))
    )


def is_valid_kind(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= 63 and bool(_KIND_RE.fullmatch(value))


def _prefixed(value: Any, suffix_ok: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = value.split("/")
    if len(parts) == 1:
        return suffix_ok(parts[0])
    if len(parts) == 2:
        return is_valid_dns_subdomain(parts[0]) and suffix_ok(parts[1])
    return False


def is_valid_api_version(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and _api_version_ok(value)


# Keys, tags and apiVersions repeat across thousands of entities: cache the
# verdicts (only for str input, so the cache key is always hashable).
@lru_cache(maxsize=8192)
def _api_version_ok(value: str) -> bool:
    return _prefixed(
        value, lambda s: 0 < len(s) <= 63 and _API_SUFFIX_RE.fullmatch(s) is not None
    )


def is_valid_label_key(value: Any) -> bool:
    return isinstance(value, str) and _key_ok(value)


@lru_cache(maxsize=8192)
def _key_ok(value: str) -> bool:
    return _prefixed(value, is_valid_name)


is_valid_annotation_key = is_valid_label_key


def is_valid_label_value(value: Any) -> bool:
    return value == "" or is_valid_name(value)


def is_valid_tag(value: Any) -> bool:
    return isinstance(value, str) and _tag_ok(value)


@lru_cache(maxsize=8192)
def _tag_ok(value: str) -> bool:
    return 0 < len(value) <= 63 and bool(_TAG_RE.fullmatch(value))
