"""Entity validation: kinds, envelope, metadata, spec, and issue positions."""

from pathlib import Path

import pytest

from catalog.descriptor import KINDS, load_location, validate_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

MINIMAL = {
    "Component": "apiVersion: backstage.io/v1alpha1\nspec: {type: service, lifecycle: x, owner: t}",
    "API": "apiVersion: backstage.io/v1beta1\n"
    "spec: {type: openapi, lifecycle: x, owner: t, definition: 'openapi: 3.0.0'}",
    "Resource": "apiVersion: backstage.io/v1alpha1\nspec: {type: database, owner: t}",
    "System": "apiVersion: backstage.io/v1alpha1\nspec: {owner: t}",
    "Domain": "apiVersion: backstage.io/v1alpha1\nspec: {owner: t}",
    "Group": "apiVersion: backstage.io/v1alpha1\nspec: {type: team, children: []}",
    "User": "apiVersion: backstage.io/v1alpha1\nspec: {memberOf: []}",
    "Location": "apiVersion: backstage.io/v1alpha1\nspec: {target: ./x.yaml}",
    "Template": "apiVersion: scaffolder.backstage.io/v1beta3\n"
    "spec: {type: service, steps: [{action: 'fetch:plain'}]}",
    "Environment": "apiVersion: backstage.io/v1alpha1\nspec: {}",
}


def entity_yaml(kind: str, name: str = "thing") -> str:
    return f"kind: {kind}\nmetadata:\n  name: {name}\n{MINIMAL[kind]}\n"


def messages(result):
    return [(i.field, i.message) for i in result.errors]


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_every_kind_validates_in_its_minimal_form(kind):
    result = validate_text(entity_yaml(kind))
    assert result.errors == []
    (entity,) = result.entities
    assert entity.kind == kind
    assert entity.ref == f"{kind.lower()}:default/thing"


def test_the_kind_table_covers_the_kinds_the_portal_knows():
    assert {k.kind for k in KINDS.values()} == set(MINIMAL)


@pytest.mark.parametrize(
    ("kind", "missing"),
    [
        ("Component", "owner"), ("Component", "lifecycle"), ("Component", "type"),
        ("API", "definition"), ("Resource", "owner"), ("System", "owner"),
        ("Domain", "owner"), ("Group", "children"), ("Group", "type"),
        ("User", "memberOf"), ("Template", "steps"),
    ],
)
def test_missing_required_spec_fields_are_errors_at_the_spec(kind, missing):
    (base,) = validate_text(entity_yaml(kind)).entities
    spec = dict(base.raw["spec"])
    del spec[missing]
    lines = "".join(f"  {k}: {v!r}\n" for k, v in spec.items())
    text = f"kind: {kind}\nmetadata:\n  name: thing\napiVersion: {base.api_version}\nspec:\n"
    text += lines or "  {}\n"
    if not lines:
        text = text.replace("spec:\n  {}\n", "spec: {}\n")
    result = validate_text(text, "f.yaml")
    assert [(e.field, e.line, e.file) for e in result.errors] == [(f"spec.{missing}", 5, "f.yaml")]
    assert "is required" in result.errors[0].message


@pytest.mark.parametrize(
    ("kind", "api_version"),
    [("Component", "backstage.io/v1beta3"), ("Template", "backstage.io/v1beta2"),
     ("Environment", "backstage.io/v1beta1"), ("Group", "example.com/v1")],
)
def test_wrong_api_version_for_the_kind_is_an_error(kind, api_version):
    text = entity_yaml(kind).replace(MINIMAL[kind].split("\n")[0], f"apiVersion: {api_version}")
    result = validate_text(text)
    assert [e.field for e in result.errors] == ["apiVersion"]
    assert "is not valid for kind" in result.errors[0].message


def test_unknown_kind_is_refused_like_backstage_and_names_the_known_kinds():
    text = "apiVersion: example.com/v1\nkind: Pipeline\nmetadata:\n  name: ci\nspec:\n  a: 1\n"
    result = validate_text(text)
    assert [(e.field, e.line) for e in result.errors] == [("kind", 2)]
    assert "unknown kind 'Pipeline'" in result.errors[0].message
    assert "Component, API, Resource" in result.errors[0].message
    assert result.entities == []


def test_unknown_kind_with_the_setting_is_a_generic_entity_and_a_warning():
    text = "apiVersion: example.com/v1\nkind: Pipeline\nmetadata:\n  name: ci\nspec:\n  a: 1\n"
    result = validate_text(text, allow_unknown_kinds=True)
    assert result.errors == []
    assert [(w.field, w.line) for w in result.warnings] == [("kind", 2)]
    assert "unknown kind 'Pipeline'" in result.warnings[0].message
    (entity,) = result.entities
    assert (entity.ref, entity.kind, entity.spec) == ("pipeline:default/ci", "Pipeline", {"a": 1})


def test_relations_status_and_foreign_root_fields_are_errors():
    result = load_location(EXAMPLES / "broken" / "read-only-fields.yaml")
    assert [(e.field, e.line, e.file) for e in result.errors] == [
        ("status", 8, "read-only-fields.yaml"),
        ("relations", 10, "read-only-fields.yaml"),
    ]
    result = validate_text(entity_yaml("System") + "extra: 1\n")
    assert messages(result) == [("extra", "unknown root field 'extra'; expected only "
                                          "apiVersion, kind, metadata, spec")]


def test_broken_example_files_report_file_line_and_field():
    broken = EXAMPLES / "broken"
    cases = {
        "bad-yaml.yaml": (None, 8),
        "missing-owner.yaml": ("spec.owner", 5),
        "bad-name.yaml": ("metadata.name", 4),
        "depends-without-kind.yaml": ("spec.dependsOn.0", 10),
    }
    for name, (field, line) in cases.items():
        result = load_location(broken / name)
        assert [(e.file, e.field, e.line) for e in result.errors] == [(name, field, line)], name
        assert result.entities == []
    result = load_location(broken / "wrong-apiversion.yaml")
    assert [(e.entity, e.field, e.line) for e in result.errors] == [
        ("template:default/old-template", "apiVersion", 1),
        ("system:default/future-system", "apiVersion", 10),
    ]


def test_missing_metadata_name_points_at_metadata():
    result = validate_text("apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n"
                           "  title: x\nspec:\n  owner: t\n")
    assert [(e.field, e.line, e.entity) for e in result.errors] == [("metadata.name", 3, None)]


def test_envelope_fields_missing_point_at_the_entity_start():
    result = validate_text("# comment\nmetadata:\n  name: x\n")
    assert [(e.field, e.line) for e in result.errors] == [("apiVersion", 2), ("kind", 2)]
    result = validate_text("- just\n- a list\n")
    assert result.errors[0].line == 1 and "expected a mapping" in result.errors[0].message


def test_metadata_field_rules():
    text = """apiVersion: backstage.io/v1alpha1
kind: System
metadata:
  name: sys
  namespace: Bad_NS
  title: ""
  description: 5
  labels:
    example.com/ok: fine
    bad key: value
    k: "not valid!"
  annotations:
    example.com/count: 3
    backstage.io/made-up: x
  tags: [java, Java, "c++"]
  links:
    - url: https://example.org
      title: Home
    - title: no url
    - url: not-a-url
      icon: ""
spec:
  owner: t
"""
    result = validate_text(text)
    fields = [e.field for e in result.errors]
    assert fields == [
        "metadata.namespace",
        "metadata.title",
        "metadata.description",
        "metadata.labels.bad key",
        "metadata.labels.k",
        "metadata.annotations.example.com/count",
        "metadata.tags.1",
        "metadata.links.1.url",
        "metadata.links.2.url",
        "metadata.links.2.icon",
    ]
    assert [e.line for e in result.errors][:3] == [5, 6, 7]
    assert [(w.field, w.line) for w in result.warnings] == [
        ("metadata.annotations.backstage.io/made-up", 14)
    ]


def test_spec_field_types_are_checked():
    text = """apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: c}
spec:
  type: service
  lifecycle: production
  owner: [not, a, string]
  providesApis: an-api
  consumesApis: [ok, ""]
"""
    result = validate_text(text)
    assert [(e.field, e.line) for e in result.errors] == [
        ("spec.owner", 7), ("spec.providesApis", 8), ("spec.consumesApis", 9)
    ]
    assert result.errors[0].message == "spec.owner must be a non-empty string"


def test_kind_specific_rules():
    loc = "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: l}\n"
    loc += "spec:\n  type: url\n"
    result = validate_text(loc)  # accepted, as Backstage accepts it, with a warning
    assert result.errors == [] and "reads nothing" in result.warnings[0].message
    tpl = entity_yaml("Template").replace(
        "steps: [{action: 'fetch:plain'}]", "steps: [{name: x}, 3], parameters: 5"
    )
    assert [e.field for e in validate_text(tpl).errors] == [
        "spec.parameters", "spec.steps.0.action", "spec.steps.1"
    ]
    api = entity_yaml("API").replace(
        "definition: 'openapi: 3.0.0'", "definition: {$text: ./a.yaml}"
    )
    result = validate_text(api)
    assert result.errors == [] and [w.field for w in result.warnings] == ["spec.definition"]
    group = entity_yaml("Group").replace("children: []", "children: [], profile: {email: 3}")
    assert [e.field for e in validate_text(group).errors] == ["spec.profile.email"]


def test_portal_environments_annotation_is_checked():
    text = entity_yaml("Component").replace(
        "metadata:\n  name: thing\n",
        "metadata:\n  name: thing\n  annotations:\n    eaas.portal/environments: 'dev, bad name'\n",
    )
    result = validate_text(text)
    assert [(e.field, e.line) for e in result.errors] == [
        ("metadata.annotations.eaas.portal/environments", 5)
    ]


def test_content_hash_ignores_key_order_and_formatting():
    a = validate_text("kind: System\napiVersion: backstage.io/v1alpha1\n"
                      "metadata: {name: s}\nspec: {owner: t}\n").entities[0]
    b = validate_text("apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n  name: s\n"
                      "spec:\n  owner: t\n").entities[0]
    c = validate_text("apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n  name: s\n"
                      "spec:\n  owner: u\n").entities[0]
    assert a.sha256 == b.sha256 != c.sha256
    assert len(a.sha256) == 64


def test_duplicate_entities_in_one_text_are_errors():
    text = entity_yaml("System", "s") + "---\n" + entity_yaml("System", "S")
    result = validate_text(text, "dup.yaml")
    assert len(result.entities) == 1
    (err,) = result.errors
    assert (err.entity, err.line) == ("system:default/s", 7)  # first node after "---"
    assert "also defined in dup.yaml line 1" in err.message
