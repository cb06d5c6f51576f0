"""The per-kind rules, as data: accepted apiVersions, spec field types,
required fields and which spec fields are entity references (with their
default kind and the relation pair Backstage emits for them).

Sources (read, not copied): backstage/backstage
``packages/catalog-model/src/schema/kinds/*.schema.json``,
``plugins/scaffolder-common/src/Template.v1beta3.schema.json``,
``docs/features/software-catalog/descriptor-format.md`` and
``plugins/catalog-backend/src/processors/BuiltinKindsEntityProcessor.ts``.

Notes on choices:
* Component/API/Resource/System/Domain/Group/User/Location accept
  ``backstage.io/v1alpha1`` and ``backstage.io/v1beta1`` (their JSON schemas'
  enums); Environment only ``backstage.io/v1alpha1``; Template only
  ``scaffolder.backstage.io/v1beta3``.
* Environment has no spec fields upstream (only ``spec`` is required); we
  accept optional string ``owner`` and ``type`` and, like upstream, emit no
  relations for it.
* Template v1beta3 requires ``type`` and ``steps`` (``parameters`` is
  optional in the v1beta3 schema); its ``owner`` relation is emitted by the
  scaffolder's catalog processor, so we emit ownedBy/ownerOf too.
* Location: upstream requires no spec field; a Location with neither
  ``target`` nor ``targets`` does nothing: a warning, accepted as upstream.
* ``dependencyOf`` is not in upstream's Component/Resource schemas (any value
  passes there, and BuiltinKindsEntityProcessor takes a string or a list);
  the portal asks for a list of strings (a deliberate difference, named in
  the error).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KINDS", "KindSpec", "RefField", "BACKSTAGE_APIS"]

STR = "a non-empty string"
STR_LIST = "a list of non-empty strings"
OBJ = "an object (mapping)"
ANY = "any value"

BACKSTAGE_APIS = frozenset({"backstage.io/v1alpha1", "backstage.io/v1beta1"})


@dataclass(frozen=True)
class RefField:
    field: str
    default_kind: str | None  # None: the reference must name its kind
    outgoing: str | None  # relation from this entity to the target (None: no relation)
    incoming: str | None  # the reverse relation, from the target to this entity
    expected_kinds: frozenset[str] = frozenset()  # a warning when the target kind differs


@dataclass(frozen=True)
class KindSpec:
    kind: str
    api_versions: frozenset[str]
    required: tuple[str, ...]
    fields: dict[str, str]
    refs: tuple[RefField, ...] = ()
    profile: bool = False  # spec.profile with displayName/email/picture strings


_OWNERS = frozenset({"group", "user"})
_DEPS = frozenset({"component", "resource"})
OWNER = RefField("owner", "group", "ownedBy", "ownerOf", _OWNERS)
SYSTEM = RefField("system", "system", "partOf", "hasPart", frozenset({"system"}))
DEPENDS_ON = RefField("dependsOn", None, "dependsOn", "dependencyOf", _DEPS)
DEPENDENCY_OF = RefField("dependencyOf", None, "dependencyOf", "dependsOn", _DEPS)

KINDS: dict[str, KindSpec] = {
    "component": KindSpec(
        "Component",
        BACKSTAGE_APIS,
        ("type", "lifecycle", "owner"),
        {
            "type": STR,
            "lifecycle": STR,
            "owner": STR,
            "system": STR,
            "subcomponentOf": STR,
            "providesApis": STR_LIST,
            "consumesApis": STR_LIST,
            "dependsOn": STR_LIST,
            "dependencyOf": STR_LIST,
        },
        (
            OWNER,
            RefField("subcomponentOf", "component", "partOf", "hasPart",
                     frozenset({"component"})),
            RefField("providesApis", "api", "providesApi", "apiProvidedBy", frozenset({"api"})),
            RefField("consumesApis", "api", "consumesApi", "apiConsumedBy", frozenset({"api"})),
            DEPENDS_ON,
            DEPENDENCY_OF,
            SYSTEM,
        ),
    ),
    "api": KindSpec(
        "API",
        BACKSTAGE_APIS,
        ("type", "lifecycle", "owner", "definition"),
        {"type": STR, "lifecycle": STR, "owner": STR, "system": STR, "definition": ANY},
        (OWNER, SYSTEM),
    ),
    "resource": KindSpec(
        "Resource",
        BACKSTAGE_APIS,
        ("type", "owner"),
        {
            "type": STR,
            "owner": STR,
            "system": STR,
            "dependsOn": STR_LIST,
            "dependencyOf": STR_LIST,
        },
        (OWNER, DEPENDS_ON, DEPENDENCY_OF, SYSTEM),
    ),
    "system": KindSpec(
        "System",
        BACKSTAGE_APIS,
        ("owner",),
        {"owner": STR, "domain": STR, "type": STR},
        (OWNER, RefField("domain", "domain", "partOf", "hasPart", frozenset({"domain"}))),
    ),
    "domain": KindSpec(
        "Domain",
        BACKSTAGE_APIS,
        ("owner",),
        {"owner": STR, "subdomainOf": STR, "type": STR},
        (OWNER, RefField("subdomainOf", "domain", "partOf", "hasPart", frozenset({"domain"}))),
    ),
    "group": KindSpec(
        "Group",
        BACKSTAGE_APIS,
        ("type", "children"),
        {
            "type": STR,
            "profile": OBJ,
            "parent": STR,
            "children": STR_LIST,
            "members": STR_LIST,
            "leader": ANY,  # not in Backstage's Group schema: any value
        },
        (
            RefField("parent", "group", "childOf", "parentOf", frozenset({"group"})),
            RefField("children", "group", "parentOf", "childOf", frozenset({"group"})),
            RefField("members", "user", "hasMember", "memberOf", frozenset({"user"})),
        ),
        profile=True,
    ),
    "user": KindSpec(
        "User",
        BACKSTAGE_APIS,
        ("memberOf",),
        {"profile": OBJ, "memberOf": STR_LIST},
        (RefField("memberOf", "group", "memberOf", "hasMember", frozenset({"group"})),),
        profile=True,
    ),
    "location": KindSpec(
        "Location",
        BACKSTAGE_APIS,
        (),
        {"type": STR, "target": STR, "targets": STR_LIST, "presence": STR},
    ),
    "template": KindSpec(
        "Template",
        frozenset({"scaffolder.backstage.io/v1beta3"}),
        ("type", "steps"),
        {
            "type": STR,
            "owner": STR,
            "lifecycle": STR,
            "parameters": ANY,
            "steps": ANY,
            "output": OBJ,
            "secrets": OBJ,
            "presentation": OBJ,
        },
        (OWNER,),
    ),
    "environment": KindSpec(
        "Environment",
        frozenset({"backstage.io/v1alpha1"}),
        (),
        {"owner": STR, "type": STR},
        (RefField("owner", "group", None, None, _OWNERS),),
    ),
}
