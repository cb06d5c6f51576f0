"""Relations from the example app repo, in both directions."""

from pathlib import Path

import pytest

from catalog.descriptor import RELATION_PAIRS, load_location, validate_text

APP_REPO = Path(__file__).resolve().parents[2] / "examples" / "app-repo"


@pytest.fixture(scope="module")
def result():
    return load_location(APP_REPO)


@pytest.mark.parametrize(
    ("source", "rel", "target"),
    [
        ("component:default/api", "ownedBy", "group:default/platform-team"),
        ("api:default/myproject-api", "ownedBy", "group:default/platform-team"),
        ("template:default/new-python-service", "ownedBy", "group:default/platform-team"),
        ("domain:default/commerce", "ownedBy", "group:default/engineering"),
        ("component:default/api", "partOf", "system:default/myproject"),
        ("resource:default/postgres", "partOf", "system:default/myproject"),
        ("system:default/myproject", "partOf", "domain:default/commerce"),
        ("domain:default/commerce", "partOf", "domain:default/engineering"),
        ("component:default/api-client", "partOf", "component:default/web"),
        ("component:default/api", "providesApi", "api:default/myproject-api"),
        ("component:default/web", "consumesApi", "api:default/myproject-api"),
        ("component:default/api-client", "consumesApi", "api:default/myproject-api"),
        ("component:default/web", "dependsOn", "component:default/api"),
        ("component:default/worker", "dependsOn", "resource:default/postgres"),
        ("component:default/worker", "dependsOn", "resource:default/redis"),
        ("component:default/worker", "dependsOn", "resource:default/backups"),
        ("component:default/shared-utils", "dependencyOf", "component:default/worker"),
        ("group:default/platform-team", "childOf", "group:default/engineering"),
        ("group:default/engineering", "parentOf", "group:default/web-team"),
        ("user:default/alice", "memberOf", "group:default/platform-team"),
        ("user:default/bob", "memberOf", "group:default/web-team"),
        ("group:default/platform-team", "hasMember", "user:default/alice"),
    ],
)
def test_both_directions_of_every_relation_are_emitted(result, source, rel, target):
    assert (source, rel, target) in result.relations
    assert (target, RELATION_PAIRS[rel], source) in result.relations


def test_relation_pairs_cover_the_backstage_types():
    assert RELATION_PAIRS == {
        "ownedBy": "ownerOf", "ownerOf": "ownedBy",
        "partOf": "hasPart", "hasPart": "partOf",
        "providesApi": "apiProvidedBy", "apiProvidedBy": "providesApi",
        "consumesApi": "apiConsumedBy", "apiConsumedBy": "consumesApi",
        "dependsOn": "dependencyOf", "dependencyOf": "dependsOn",
        "childOf": "parentOf", "parentOf": "childOf",
        "memberOf": "hasMember", "hasMember": "memberOf",
    }


def test_relations_are_deduplicated(result):
    assert len(result.relations) == len(set(result.relations))
    # worker.dependsOn backups and backups.dependencyOf worker give the same pair once.
    pair = ("component:default/worker", "dependsOn", "resource:default/backups")
    assert result.relations.count(pair) == 1
    # group.members alice and alice.memberOf platform-team: once as well.
    assert result.relations.count(
        ("user:default/alice", "memberOf", "group:default/platform-team")) == 1
    assert len(result.relations) == 78


def test_environments_and_locations_emit_no_relations(result):
    involved = {r.source for r in result.relations} | {r.target for r in result.relations}
    assert "environment:default/dev" not in involved
    assert "location:default/myproject-root" not in involved


def test_relation_targets_are_lowercased_canonical_refs():
    text = """apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: Svc, namespace: shop}
spec:
  type: service
  lifecycle: production
  owner: User:Default/JDoe
  dependsOn: [Resource:DB]
"""
    rels = validate_text(text).relations
    assert rels == [
        ("component:shop/svc", "ownedBy", "user:default/jdoe"),
        ("user:default/jdoe", "ownerOf", "component:shop/svc"),
        ("component:shop/svc", "dependsOn", "resource:shop/db"),
        ("resource:shop/db", "dependencyOf", "component:shop/svc"),
    ]
