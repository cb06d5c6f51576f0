"""Issue 17: validation and relations as Backstage's own code decides them.

Every case of the issue, accepted or refused as Backstage's catalog-model
(schemas, FieldFormatEntityPolicy, KubernetesValidatorFunctions,
parseEntityRef) and BuiltinKindsEntityProcessor decide it; the deliberate
differences are asserted with the warning or error that names Backstage's
behaviour. Plus: no input makes validate_text or the validate API raise."""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.descriptor import validate_text

BASE = {
    "apiVersion": "backstage.io/v1alpha1",
    "kind": "Component",
    "metadata": {"name": "svc"},
    "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"},
}
TEMPLATE = {
    "apiVersion": "scaffolder.backstage.io/v1beta3",
    "kind": "Template",
    "metadata": {"name": "tpl"},
    "spec": {"type": "service", "steps": [{"action": "fetch:plain"}]},
}


def doc(meta=None, spec=None, base=BASE, **root):
    d = json.loads(json.dumps(base))
    d["metadata"].update(meta or {})
    d["spec"].update(spec or {})
    d.update(root)
    return yaml.safe_dump(d, sort_keys=False)


def raw_meta(lines: str) -> str:
    """A Component whose metadata block has extra raw YAML lines (for `key:` with no value)."""
    return ("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: svc\n"
            + lines + "spec: {type: service, lifecycle: production, owner: team-a}\n")


REFUSED = {  # Backstage refuses these: so does the portal
    "unknown kind": doc(kind="Widget"),
    "kind in the wrong case": doc(kind="component"),
    "empty tags": raw_meta("  tags:\n"),
    "empty labels": raw_meta("  labels:\n"),
    "empty links": raw_meta("  links:\n"),
    "empty title": raw_meta("  title:\n"),
    "empty description": raw_meta("  description:\n"),
    "empty namespace": raw_meta("  namespace:\n"),
    "link port above 65535": doc({"links": [{"url": "http://example.com:70000/"}]}),
    "link space in host": doc({"links": [{"url": "http://exa mple.com/"}]}),
    "link unclosed IPv6 bracket": doc({"links": [{"url": "http://[fd00::1/status"}]}),
    "link relative url": doc({"links": [{"url": "/docs"}]}),
    "link title only spaces": doc({"links": [{"url": "https://x.org", "title": "  "}]}),
    "link icon only spaces": doc({"links": [{"url": "https://x.org", "icon": " "}]}),
    "uid not a string": doc({"uid": 5}),
    "upper-case namespace": doc({"namespace": "Payments"}),
    "tag with repeated dash": doc({"tags": ["a--b"]}),
    "template output not a string": doc(spec={"output": {"url": 5}}, base=TEMPLATE),
    "template steps not a list": doc(spec={"steps": {"action": "x"}}, base=TEMPLATE),
    "template steps empty": doc(spec={"steps": None}, base=TEMPLATE),
    "dependsOn without a kind": doc(spec={"dependsOn": ["db"]}),
    "wrong apiVersion": doc(apiVersion="backstage.io/v2"),
    "null owner": doc(spec={"owner": None}),
}

ACCEPTED = {  # Backstage accepts these: so does the portal
    "empty annotations": raw_meta("  annotations:\n"),
    "name with repeated separators": doc({"name": "cargo--manifest"}),
    "name with mixed separators": doc({"name": "a_.b"}),
    "namespace with repeated dashes": doc({"namespace": "team--a"}),
    "label key prefix with repeated dashes": doc({"labels": {"a--b.io/x": "v"}}),
    "label value with repeated separators": doc({"labels": {"x": "cargo--manifest"}}),
    "empty label value": doc({"labels": {"x": ""}}),
    "empty description string": doc({"description": ""}),
    "link with IPv6 host and port": doc({"links": [{"url": "http://[fd00::1]:8080/s"}]}),
    "link with a non-http scheme": doc({"links": [{"url": "mailto:team@example.org"}]}),
    "tag with a colon": doc({"tags": ["team:infra"]}),
    "template action empty string": doc(spec={"steps": [{"action": ""}]}, base=TEMPLATE),
    "location without targets": (
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: l}\nspec: {}\n"),
    "group leader of any type": (
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: g}\n"
        "spec: {type: team, children: [], leader: {name: x}}\n"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_backstage_refuses_is_refused(case):
    result = validate_text(REFUSED[case])
    assert result.errors, case
    assert result.entities == []
    for issue in result.errors:
        assert issue.line >= 1 and issue.message


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_what_backstage_accepts_is_accepted(case):
    result = validate_text(ACCEPTED[case])
    assert result.errors == [], [str(e) for e in result.errors]
    assert len(result.entities) == 1


def test_the_empty_namespace_bug_names_the_field():
    result = validate_text(raw_meta("  namespace:\n"))
    assert [(e.field, e.line) for e in result.errors] == [("metadata.namespace", 5)]
    assert "must have a value" in result.errors[0].message


def test_wrong_case_kind_says_what_is_meant():
    (err,) = validate_text(doc(kind="component")).errors
    assert err.field == "kind" and "did you mean 'Component'" in err.message


def test_the_setting_keeps_the_old_behaviour_for_kinds():
    widget = validate_text(doc(kind="Widget"), allow_unknown_kinds=True)
    assert widget.errors == [] and widget.entities[0].kind == "Widget"
    lower = validate_text(doc(kind="component"), allow_unknown_kinds=True)
    assert lower.errors == [] and lower.entities[0].kind == "Component"
    assert "Backstage refuses" in lower.warnings[0].message


def test_empty_metadata_errors_name_the_schema():
    result = validate_text(raw_meta("  tags:\n  title:\n"))
    assert sorted(e.field for e in result.errors) == ["metadata.tags", "metadata.title"]
    assert all("EntityMeta" in e.message for e in result.errors)


# --- deliberate differences: refused or warned, naming what Backstage does --------------

@pytest.mark.parametrize(
    ("spec", "field"),
    [({"owner": "a/b/c"}, "spec.owner"), ({"owner": "   "}, "spec.owner"),
     ({"dependencyOf": "component:x"}, "spec.dependencyOf")],
)
def test_stricter_on_purpose_and_says_so(spec, field):
    result = validate_text(doc(spec=spec))
    assert [e.field for e in result.errors] == [field]
    assert "Backstage" in result.errors[0].message


def test_whitespace_title_is_refused_and_names_backstage():
    (err,) = validate_text(doc({"title": "   "})).errors
    assert err.field == "metadata.title" and "Backstage accepts it" in err.message


def test_a_reference_with_a_trailing_space_is_trimmed_with_a_warning():
    result = validate_text(doc(spec={"owner": "team-a "}))
    assert result.errors == []
    assert result.entities[0].owner == "group:default/team-a"
    (warning,) = [w for w in result.warnings if w.field == "spec.owner"]
    assert "Backstage keeps them" in warning.message


# --- relations: BuiltinKindsEntityProcessor's pairs, namespaces inherited ----------------

def test_relations_follow_the_builtin_processor():
    text = doc({"namespace": "shop"}, {"owner": "user:jdoe", "system": "default/core",
                                       "subcomponentOf": "base", "providesApis": ["a"],
                                       "consumesApis": ["default/b"],
                                       "dependsOn": ["resource:db"],
                                       "dependencyOf": ["component:up"]})
    rels = set(validate_text(text).relations)
    me = "component:shop/svc"
    for rtype, target, back in [
        ("ownedBy", "user:shop/jdoe", "ownerOf"),
        ("partOf", "system:default/core", "hasPart"),
        ("partOf", "component:shop/base", "hasPart"),
        ("providesApi", "api:shop/a", "apiProvidedBy"),
        ("consumesApi", "api:default/b", "apiConsumedBy"),
        ("dependsOn", "resource:shop/db", "dependencyOf"),
        ("dependencyOf", "component:shop/up", "dependsOn"),
    ]:
        assert (me, rtype, target) in rels and (target, back, me) in rels
    assert len(rels) == 14


# --- no input raises: generated and mutated entities -------------------------------------

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                     st.text(max_size=12),
                     st.sampled_from(["", " ", "a--b", "Team-A", "http://[fd00::1/status",
                                      "http://h:99999/", "user:a/b/c", "x ", "component:",
                                      ":", "/", "a:b/c", "\u00e9", "0x", "1.2.3.999"]))
_values = st.recursive(_scalars, lambda c: st.one_of(
    st.lists(c, max_size=3), st.dictionaries(st.text(max_size=8), c, max_size=3)), max_leaves=8)
_paths = st.sampled_from([
    ("kind",), ("apiVersion",), ("metadata",), ("metadata", "name"), ("metadata", "namespace"),
    ("metadata", "title"), ("metadata", "uid"), ("metadata", "tags"), ("metadata", "labels"),
    ("metadata", "annotations"), ("metadata", "links"), ("spec",), ("spec", "owner"),
    ("spec", "system"), ("spec", "dependsOn"), ("spec", "dependencyOf"), ("spec", "steps"),
    ("spec", "output"), ("spec", "profile"), ("spec", "target"), ("spec", "definition"),
    ("relations",), ("extra",)])
_kinds = st.sampled_from(["Component", "API", "Resource", "System", "Domain", "Group", "User",
                          "Location", "Template", "Environment", "component", "Widget"])


def _mutate(kind, edits):
    d = json.loads(json.dumps(TEMPLATE if kind == "Template" else BASE))
    d["kind"] = kind
    for path, value in edits:
        node = d
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = value
    return d


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(_kinds, st.lists(st.tuples(_paths, _values), max_size=4))
def test_validate_text_never_raises_on_mutated_entities(kind, edits):
    text = yaml.safe_dump(_mutate(kind, edits), allow_unicode=True)
    result = validate_text(text)
    for issue in result.errors + result.warnings:
        assert isinstance(issue.message, str) and issue.message
    if result.ok:
        assert result.entities  # never "valid" with nothing stored


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=200))
def test_validate_text_never_raises_on_arbitrary_text(text):
    validate_text(text)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(_kinds, st.lists(st.tuples(_paths, _values), max_size=3))
def test_the_validate_api_never_answers_5xx(api, kind, edits):
    text = yaml.safe_dump(_mutate(kind, edits), allow_unicode=True)
    response = api.generic("POST", "/api/catalog/validate/", text.encode(),
                           content_type="application/yaml")
    assert response.status_code < 500, response.content
    body = response.json()
    if response.status_code == 200 and body["valid"]:
        assert body["entities"]


@pytest.mark.django_db
def test_the_ipv6_bracket_bug_answers_200_with_an_error(api):
    response = api.generic("POST", "/api/catalog/validate/",
                           REFUSED["link unclosed IPv6 bracket"].encode(),
                           content_type="application/yaml")
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert body["errors"][0]["field"] == "metadata.links.0.url"
