"""Entity references and field-format validators."""

import pytest

from catalog.descriptor import EntityRef, RefError, parse_ref, validate_text
from catalog.descriptor import refs as R


@pytest.mark.parametrize(
    ("text", "default_kind", "expected"),
    [
        ("team-a", "group", "group:default/team-a"),
        ("user:jdoe", "group", "user:default/jdoe"),
        ("ops/team-a", "group", "group:ops/team-a"),
        ("Component:Prod/My-Service", None, "component:prod/my-service"),
        ("resource:default/Postgres", None, "resource:default/postgres"),
        ("ns/a:b", "group", "group:ns/a:b"),  # a ':' after the '/' is part of the name
    ],
)
def test_it_parses_refs_with_defaults(text, default_kind, expected):
    assert str(parse_ref(text, default_kind=default_kind)) == expected


def test_refs_are_case_insensitive_identities():
    a = parse_ref("Group:Default/Platform-Team")
    b = parse_ref("platform-team", default_kind="group")
    assert a == b == EntityRef("group", "default", "platform-team")


def test_it_uses_the_referencing_namespace_as_default():
    assert str(parse_ref("db", default_kind="resource", default_namespace="payments")) == (
        "resource:payments/db"
    )


@pytest.mark.parametrize("bad", ["", "   ", "component:", ":x", "a//b", "kind:/name", "a/b/c", 7])
def test_it_rejects_malformed_refs(bad):
    with pytest.raises(RefError):
        parse_ref(bad, default_kind="group")


def test_dependsOn_without_kind_is_an_error_with_position():
    text = """apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: svc
spec:
  type: service
  lifecycle: production
  owner: team-a
  dependsOn:
    - resource:db
    - cache
  dependencyOf: [other]
"""
    result = validate_text(text, "svc.yaml")
    errors = [(e.field, e.line, e.column) for e in result.errors]
    assert errors == [("spec.dependsOn.1", 11, 7), ("spec.dependencyOf.0", 12, 18)]
    assert "must include a kind" in result.errors[0].message
    assert result.errors[0].entity == "component:default/svc"
    assert result.entities == []


def test_entity_namespace_is_the_default_for_its_relations():
    text = """apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: svc
  namespace: payments
spec:
  type: service
  lifecycle: production
  owner: team-a
  system: default/shop
"""
    result = validate_text(text)
    (entity,) = result.entities
    assert entity.ref == "component:payments/svc"
    assert entity.owner == "group:payments/team-a"
    assert entity.system == "system:default/shop"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("visits-tracking-service", True),
        ("CircleciBuildsDumpV2_avro_gcs", True),
        ("a", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("-a", False),
        ("a--b", True),  # Backstage's pattern allows runs of separators
        ("a_.b", True),
        ("cargo--manifest", True),
        ("a-", False),
        ("a b", False),
        ("", False),
        (5, False),
    ],
)
def test_name_rule(value, ok):
    assert R.is_valid_name(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("java", True), ("c++", True), ("c#", True), ("team:infra", True), ("a-b", True),
     ("Java", False), ("a--b", False), ("a_b", False), ("x" * 64, False)],
)
def test_tag_rule(value, ok):
    assert R.is_valid_tag(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("example.com/custom", True), ("custom_key", True), ("a.b-c.io/x.y", True),
     ("Example.com/x", False), ("a/b/c", False), ("/x", False), ("example.com/", False)],
)
def test_label_and_annotation_key_rule(value, ok):
    assert R.is_valid_label_key(value) is ok
    assert R.is_valid_annotation_key(value) is ok


def test_namespace_and_api_version_rules():
    assert R.is_valid_namespace("default") and R.is_valid_namespace("team--a")
    assert not R.is_valid_namespace("Team-A")  # Backstage does not lowercase it
    assert not R.is_valid_namespace("a_b") and not R.is_valid_namespace("a.b")
    assert R.is_valid_api_version("backstage.io/v1alpha1")
    assert R.is_valid_api_version("scaffolder.backstage.io/v1beta3")
    assert not R.is_valid_api_version("backstage.io/v1/x")
    assert not R.is_valid_api_version("Backstage.io/v1")
