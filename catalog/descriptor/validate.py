"""Validate one parsed YAML document as a Backstage catalog entity.

Public API
----------
``validate_entity(doc, file, issues) -> CatalogEntity | None``
    ``doc`` is a ``portal.lib.yaml_safe.YamlDocument``. Appends ``Issue``
    records (errors and warnings) to ``issues`` and returns the entity record
    when the document has no errors (warnings allowed), else None.
``entity_sha256(raw) -> str``
    sha256 of the canonical JSON of an entity (sorted keys, compact
    separators, UTF-8), stable across key order and YAML formatting.

What is checked (see ``kinds.py`` for the per-kind tables):
* envelope: ``apiVersion``/``kind``/``metadata`` required; ``spec`` required
  for known kinds; ``relations``/``status`` are read-only (error); any other
  root field is an error (Backstage's NoForeignRootFieldsEntityPolicy).
* metadata: name, namespace, title, description, labels, annotations, tags,
  links formats (``refs.py``); uid/etag/generation are catalog-owned (warning).
* apiVersion per kind; unknown kind with a valid envelope -> warning, kept as
  a generic entity.
* spec: required fields, field types, entity references (``dependsOn`` and
  ``dependencyOf`` must name a kind), Location target(s), Template steps and
  parameters, API ``definition`` (string, or an unresolved ``$text``/``$json``
  /``$yaml`` substitution -> warning).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from portal.lib.yaml_safe import YamlDocument

from . import refs as R
from .annotations import ENVIRONMENTS_ANNOTATION, check_annotations, portal_environments
from .kinds import ANY, KINDS, OBJ, STR, STR_LIST, KindSpec
from .model import CatalogEntity, Issue
from .weburl import is_valid_url

__all__ = ["entity_sha256", "validate_entity"]

_ROOT_FIELDS = frozenset({"apiVersion", "kind", "metadata", "spec"})
_READ_ONLY_ROOT = frozenset({"relations", "status"})
_CATALOG_META = frozenset({"uid", "etag", "generation"})
_CATALOG_META_STR = ("uid", "etag")  # EntityMeta: a non-empty string when present
# metadata fields Backstage's EntityMeta schema types; present-but-empty (null)
# is refused there. An empty ``annotations:`` is not: Backstage normalises it.
_META_TYPES = {"title": "string", "description": "string", "labels": "mapping",
               "tags": "list", "links": "list"}
_LINK_TRIMMED = ("title", "icon")  # FieldFormatEntityPolicy: non-empty after trim
_LINK_FIELDS = ("title", "icon", "type")
_PROFILE_FIELDS = ("displayName", "email", "picture")
_SUBSTITUTIONS = frozenset({"$text", "$json", "$yaml"})


# One encoder for every hash: json.dumps with options builds a new encoder per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entity_sha256(raw: Any) -> str:
    return hashlib.sha256(_CANONICAL.encode(raw).encode("utf-8")).hexdigest()


def _is_str(v: Any) -> bool:
    return isinstance(v, str) and v != ""


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(i, str) and i != "" for i in v)


_TYPE_CHECKS = {
    STR: _is_str,
    STR_LIST: _is_str_list,
    OBJ: lambda v: isinstance(v, dict),
    ANY: lambda v: True,
}


class _Ctx:
    """Collects issues for one document, positioned with the YAML marks."""

    __slots__ = ("doc", "file", "issues", "entity", "errors")

    def __init__(self, doc: YamlDocument, file: str, issues: list[Issue]):
        self.doc, self.file, self.issues = doc, file, issues
        self.entity: str | None = None
        self.errors = 0

    def add(
        self, path: tuple, message: str, severity: str = "error", field: str | None = None
    ) -> None:
        """Record an issue at ``path``; ``field`` overrides the dotted field name
        (used for missing fields, which are positioned at their parent)."""
        line, col = self.doc.mark(path)
        dotted = field or ".".join(str(p) for p in path) or None
        self.issues.append(Issue(self.file, line, col, self.entity, dotted, message, severity))
        if severity == "error":
            self.errors += 1

    def warn(self, path: tuple, message: str) -> None:
        self.add(path, message, "warning")


def validate_entity(
    doc: YamlDocument, file: str, issues: list[Issue], *, allow_unknown_kinds: bool = False
) -> CatalogEntity | None:
    ctx = _Ctx(doc, file, issues)
    raw = doc.value
    if not isinstance(raw, dict):
        ctx.add((), f"expected a mapping with apiVersion, kind, metadata, spec; "
                    f"got {type(raw).__name__}")
        return None
    api_version, kind, meta = raw.get("apiVersion"), raw.get("kind"), raw.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    namespace = meta.get("namespace", "default") if isinstance(meta, dict) else "default"
    if R.is_valid_kind(kind) and R.is_valid_name(name) and R.is_valid_namespace(namespace):
        ctx.entity = f"{kind.lower()}:{namespace.lower()}/{name.lower()}"

    _check_envelope(ctx, raw, api_version, kind)
    if not isinstance(meta, dict):
        ctx.add(("metadata",), "metadata is required and must be a mapping")
        return None
    _check_metadata(ctx, meta)

    spec_rules = KINDS.get(kind.lower()) if isinstance(kind, str) else None
    spec = raw.get("spec")
    parsed: dict[str, list[R.EntityRef]] = {}
    known = ", ".join(k.kind for k in KINDS.values())
    if spec_rules is not None and kind != spec_rules.kind and not allow_unknown_kinds:
        # Backstage's kind schemas pin the exact spelling: no processor takes it.
        ctx.add(("kind",), f"kind {kind!r} is not known; kinds are case-sensitive, did you "
                           f"mean {spec_rules.kind!r}? (known: {known})")
        spec_rules = None
    elif spec_rules is None and R.is_valid_kind(kind):
        if allow_unknown_kinds:
            ctx.warn(("kind",), f"unknown kind {kind!r}; stored as a generic entity "
                                f"(known: {known}); Backstage refuses it unless a processor "
                                "handles that kind")
        else:
            ctx.add(("kind",), f"unknown kind {kind!r}; no processor handles it, as in "
                               f"Backstage (known: {known}; PORTAL_CATALOG_ALLOW_UNKNOWN_KINDS=1 "
                               "stores unknown kinds as generic entities)")
    if spec_rules is None:
        if "spec" in raw and not isinstance(spec, dict):
            ctx.add(("spec",), "spec must be a mapping")
    else:
        if kind != spec_rules.kind:
            ctx.warn(("kind",), f"kind should be spelled {spec_rules.kind!r}; Backstage "
                                "refuses any other spelling")
        if isinstance(api_version, str) and api_version not in spec_rules.api_versions:
            ctx.add(("apiVersion",), f"apiVersion {api_version!r} is not valid for kind "
                    f"{spec_rules.kind}; expected {' or '.join(sorted(spec_rules.api_versions))}")
        if not isinstance(spec, dict):
            ctx.add(("spec",), f"spec is required for kind {spec_rules.kind} and must be a "
                               "mapping")
        else:
            parsed = _check_spec(ctx, spec_rules, spec, namespace)
    if ctx.entity is None and not ctx.errors:
        # Never a silent drop: every refused document says why.
        ctx.add((), "the entity has no valid kind, namespace and name")
    if ctx.errors or ctx.entity is None:
        return None
    # No errors: _check_envelope and _check_metadata found these present and well-formed.
    assert isinstance(kind, str) and isinstance(name, str) and isinstance(api_version, str)

    spec = spec if isinstance(spec, dict) else {}
    annotations = meta.get("annotations") or {}
    owner = parsed.get("owner")
    system = parsed.get("system")
    return CatalogEntity(
        ref=ctx.entity,
        kind=spec_rules.kind if spec_rules else kind,
        namespace=namespace.lower(),
        name=name,
        api_version=api_version,
        spec_type=spec.get("type") if isinstance(spec.get("type"), str) else None,
        lifecycle=spec.get("lifecycle") if isinstance(spec.get("lifecycle"), str) else None,
        owner=str(owner[0]) if owner else None,
        system=str(system[0]) if system else None,
        title=meta.get("title"),
        description=meta.get("description"),
        tags=list(meta.get("tags") or []),
        annotations=dict(annotations),
        labels=dict(meta.get("labels") or {}),
        links=list(meta.get("links") or []),
        raw=raw,
        file=file,
        line=doc.line,
        column=doc.column,
        sha256=entity_sha256(raw),
        refs=parsed,
        environments=portal_environments(annotations),
    )


def _check_envelope(ctx: _Ctx, raw: dict, api_version: Any, kind: Any) -> None:
    for key in raw:
        if key in _READ_ONLY_ROOT:
            ctx.add((key,), f"'{key}' is computed by the catalog and must not be present in a "
                            "descriptor file")
        elif key not in _ROOT_FIELDS:
            ctx.add((key,), f"unknown root field {key!r}; expected only apiVersion, kind, "
                            "metadata, spec")
    if api_version is None:
        ctx.add((), "apiVersion is required, e.g. 'backstage.io/v1alpha1'", field="apiVersion")
    elif not R.is_valid_api_version(api_version):
        ctx.add(("apiVersion",), f"apiVersion {api_version!r} is malformed; expected "
                                 "'<dns-prefix>/<version>' e.g. 'backstage.io/v1alpha1'")
    if kind is None:
        ctx.add((), "kind is required, e.g. 'Component'", field="kind")
    elif not R.is_valid_kind(kind):
        ctx.add(("kind",), f"kind {kind!r} is malformed; expected letters and digits "
                           "starting with a letter, at most 63 characters")


def _check_metadata(ctx: _Ctx, meta: dict) -> None:
    m = "metadata"
    name = meta.get("name")
    if name is None:
        ctx.add((m,), "metadata.name is required", field="metadata.name")
    elif not R.is_valid_name(name):
        ctx.add((m, "name"), f"name {name!r} is invalid; expected 1-63 characters of "
                             "[a-zA-Z0-9-_.], starting and ending with [a-zA-Z0-9]")
    if "namespace" in meta and meta["namespace"] is None:
        ctx.add((m, "namespace"), "metadata.namespace must have a value (leave the key out "
                                  "for 'default')")
    ns = meta.get("namespace")
    if ns is not None and not R.is_valid_namespace(ns):
        hint = " (lower case only: Backstage does not lowercase it)" if (
            isinstance(ns, str) and R.is_valid_namespace(ns.lower())) else ""
        ctx.add((m, "namespace"), f"namespace {ns!r} is invalid; expected 1-63 characters of "
                                  f"[a-z0-9] separated by '-'{hint}")
    for key, expected in _META_TYPES.items():
        if key in meta and meta[key] is None:
            ctx.add((m, key), f"metadata.{key} is present but empty; Backstage's EntityMeta "
                              f"schema requires a {expected} (remove the key or give a value)")
    title = meta.get("title")
    if title is not None:
        if not isinstance(title, str) or title == "":
            ctx.add((m, "title"), "title must be a non-empty string")
        elif not title.strip():
            ctx.add((m, "title"), "title is only spaces; Backstage accepts it and shows a "
                                  "blank title, the portal refuses it")
    desc = meta.get("description")
    if desc is not None and not isinstance(desc, str):
        ctx.add((m, "description"), "description must be a string")
    for key in _CATALOG_META_STR:
        if key in meta and not _is_str(meta[key]):
            ctx.add((m, key), f"metadata.{key} must be a non-empty string (Backstage's "
                              "EntityMeta schema)")
    for key in _CATALOG_META.intersection(meta):
        ctx.warn((m, key), f"metadata.{key} is set by the catalog; it is ignored in a "
                           "descriptor file")
    _check_labels(ctx, meta.get("labels"))
    _check_annotations(ctx, meta.get("annotations"))
    _check_tags(ctx, meta.get("tags"))
    _check_links(ctx, meta.get("links"))


def _check_labels(ctx: _Ctx, labels: Any) -> None:
    if labels is None:
        return  # absent, or present-but-empty (reported with the other metadata types)
    if not isinstance(labels, dict):
        ctx.add(("metadata", "labels"), "labels must be a mapping of strings")
        return
    for key, value in labels.items():
        path = ("metadata", "labels", key)
        if not R.is_valid_label_key(key):
            ctx.add(path, f"label key {key!r} is invalid; expected an optional DNS prefix "
                          "and '/' followed by a name of [a-zA-Z0-9] separated by [-_.]")
        if not R.is_valid_label_value(value):
            ctx.add(path, f"label value {value!r} is invalid; expected '' or 1-63 characters "
                          "of [a-zA-Z0-9-_.], starting and ending with [a-zA-Z0-9]")


def _check_annotations(ctx: _Ctx, annotations: Any) -> None:
    if annotations is None:
        return
    if not isinstance(annotations, dict):
        ctx.add(("metadata", "annotations"), "annotations must be a mapping of strings")
        return
    for key, value in annotations.items():
        path = ("metadata", "annotations", key)
        if not R.is_valid_annotation_key(key):
            ctx.add(path, f"annotation key {key!r} is invalid; expected an optional DNS "
                          "prefix and '/' followed by a name of [a-zA-Z0-9] separated by [-_.]")
        if not isinstance(value, str):
            ctx.add(path, f"annotation value must be a string, got {type(value).__name__} "
                          "(quote it)")
    for key, message, severity in check_annotations(annotations):
        ctx.add(("metadata", "annotations", key), message, severity)
    if ENVIRONMENTS_ANNOTATION in annotations and not (ctx.entity or "").startswith("component:"):
        ctx.warn(("metadata", "annotations", ENVIRONMENTS_ANNOTATION),
                 "only used on Component entities")


def _check_tags(ctx: _Ctx, tags: Any) -> None:
    if tags is None:
        return
    if not isinstance(tags, list):
        ctx.add(("metadata", "tags"), "tags must be a list of strings")
        return
    for i, tag in enumerate(tags):
        if not R.is_valid_tag(tag):
            ctx.add(("metadata", "tags", i), f"tag {tag!r} is invalid; expected 1-63 "
                    "characters of [a-z0-9:+#] separated by single '-'")


def _check_links(ctx: _Ctx, links: Any) -> None:
    if links is None:
        return
    if not isinstance(links, list):
        ctx.add(("metadata", "links"), "links must be a list of {url, title, icon, type}")
        return
    for i, link in enumerate(links):
        path = ("metadata", "links", i)
        if not isinstance(link, dict):
            ctx.add(path, "a link must be a mapping with at least 'url'")
            continue
        url = link.get("url")
        if not _is_str(url):
            ctx.add(path + (("url",) if "url" in link else ()),
                    "link url is required and must be a non-empty string",
                    field=".".join(map(str, path + ("url",))))
        elif not is_valid_url(url):
            ctx.add(path + ("url",), f"link url {url!r} is not a valid absolute URL (parsed "
                                     "as browsers and Backstage parse it)")
        for key in _LINK_FIELDS:
            if key in link and not _is_str(link[key]):
                ctx.add(path + (key,), f"link {key} must be a non-empty string")
            elif key in _LINK_TRIMMED and key in link and not link[key].strip():
                ctx.add(path + (key,), f"link {key} is only spaces; Backstage trims it "
                                       "before its non-empty check")


def _check_spec(
    ctx: _Ctx, rules: KindSpec, spec: dict, namespace: Any
) -> dict[str, list[R.EntityRef]]:
    for key in rules.required:
        if key not in spec:
            ctx.add(("spec",), f"spec.{key} is required for kind {rules.kind}", field=f"spec.{key}")
    for key, expected in rules.fields.items():
        if key in spec and not _TYPE_CHECKS[expected](spec[key]):
            note = ""
            if key == "dependencyOf" and isinstance(spec[key], str):
                note = ("; Backstage also takes a single string here (its schema does not "
                        "type dependencyOf), the portal asks for the list form")
            ctx.add(("spec", key), f"spec.{key} must be {expected}{note}")
    if rules.profile:
        _check_profile(ctx, spec.get("profile"))
    special = _SPECIAL.get(rules.kind)
    if special:
        special(ctx, spec)
    default_ns = namespace.lower() if isinstance(namespace, str) else "default"
    return _parse_refs(ctx, rules, spec, default_ns)


def _parse_refs(
    ctx: _Ctx, rules: KindSpec, spec: dict, default_ns: str
) -> dict[str, list[R.EntityRef]]:
    out: dict[str, list[R.EntityRef]] = {}
    for rf in rules.refs:
        value = spec.get(rf.field)
        if value is None or not _TYPE_CHECKS[rules.fields[rf.field]](value):
            continue  # absent, or a type error already reported
        many = isinstance(value, list)
        parsed: list[R.EntityRef] = []
        for i, item in enumerate(value if many else [value]):
            path = ("spec", rf.field, i) if many else ("spec", rf.field)
            try:
                ref = R.parse_ref(item, default_kind=rf.default_kind, default_namespace=default_ns)
            except R.RefError as exc:
                ctx.add(path, str(exc))
                continue
            if item != item.strip():
                ctx.warn(path, f"entity reference {item!r} has leading or trailing spaces; the "
                               f"portal trims them and relates to {ref}, Backstage keeps them "
                               "and emits a relation that never resolves")
            if rf.expected_kinds and ref.kind not in rf.expected_kinds:
                ctx.warn(path, f"spec.{rf.field} usually refers to "
                               f"{' or '.join(sorted(rf.expected_kinds))}, not {ref.kind!r}")
            if ref not in parsed:
                parsed.append(ref)
        out[rf.field] = parsed
    return out


def _check_profile(ctx: _Ctx, profile: Any) -> None:
    if not isinstance(profile, dict):
        return  # absent, or the type error was already reported
    for key in _PROFILE_FIELDS:
        if key in profile and not _is_str(profile[key]):
            ctx.add(("spec", "profile", key), f"spec.profile.{key} must be a non-empty string")


def _check_location(ctx: _Ctx, spec: dict) -> None:
    if "target" not in spec and "targets" not in spec:
        ctx.warn(("spec",), "a Location with neither spec.target nor spec.targets reads "
                            "nothing (Backstage accepts it too)")
    presence = spec.get("presence")
    if presence is not None and presence not in ("required", "optional"):
        ctx.add(("spec", "presence"), "spec.presence must be 'required' or 'optional'")


def _check_api(ctx: _Ctx, spec: dict) -> None:
    definition = spec.get("definition")
    if definition is None or _is_str(definition):
        if "definition" in spec and definition is None:
            ctx.add(("spec", "definition"), "spec.definition must be a non-empty string")
        return
    if (
        isinstance(definition, dict)
        and len(definition) == 1
        and next(iter(definition)) in _SUBSTITUTIONS
        and _is_str(next(iter(definition.values())))
    ):
        ctx.warn(("spec", "definition"), "substitution is not resolved by the portal; the "
                                         "definition is stored as written")
        return
    ctx.add(("spec", "definition"), "spec.definition must be a non-empty string (or a "
                                    "$text/$json/$yaml substitution)")


def _check_template(ctx: _Ctx, spec: dict) -> None:
    params = spec.get("parameters")
    if "parameters" in spec and not (
        isinstance(params, dict)
        or (isinstance(params, list) and all(isinstance(p, dict) for p in params))
    ):
        ctx.add(("spec", "parameters"), "spec.parameters must be an object or a list of objects")
    output = spec.get("output")
    if isinstance(output, dict):
        for key, value in output.items():
            if key in ("links", "text"):
                if not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
                    ctx.add(("spec", "output", key), f"spec.output.{key} must be a list of "
                                                     "mappings")
            elif not isinstance(value, str):
                ctx.add(("spec", "output", key), f"spec.output.{key} must be a string (a "
                        "template expression such as '${{ steps.x.output.y }}')")
    if "steps" not in spec:
        return  # reported as a missing required field
    steps = spec["steps"]
    if not isinstance(steps, list):
        ctx.add(("spec", "steps"), "spec.steps must be a list of steps")
        return
    for i, step in enumerate(steps):
        path = ("spec", "steps", i)
        if not isinstance(step, dict):
            ctx.add(path, "a step must be a mapping with at least 'action'")
            continue
        if not isinstance(step.get("action"), str):
            ctx.add(path + (("action",) if "action" in step else ()),
                    "step action is required and must be a string",
                    field=".".join(map(str, path + ("action",))))
        for key in ("id", "name"):
            if key in step and not isinstance(step[key], str):
                ctx.add(path + (key,), f"step {key} must be a string")
        if "input" in step and not isinstance(step["input"], dict):
            ctx.add(path + ("input",), "step input must be a mapping")
        if "if" in step and not isinstance(step["if"], str | bool):
            ctx.add(path + ("if",), "step if must be a string or a boolean")


_SPECIAL = {"Location": _check_location, "API": _check_api, "Template": _check_template}
