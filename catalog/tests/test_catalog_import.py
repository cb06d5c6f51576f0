"""The importer: every kind, both directions, all-or-nothing, orphans, no needless writes,
duplicates across locations, dangling references."""

from __future__ import annotations

import pytest

from catalog.descriptor import RELATION_PAIRS
from catalog.models import Entity, Location, Relation

from .conftest import APP_REPO, COMPONENT, add_local, reimport

pytestmark = pytest.mark.django_db

KINDS = {"location", "domain", "system", "group", "user", "environment", "component", "api",
         "resource", "template"}


def test_it_imports_every_kind_and_both_directions_of_every_relation():
    location = add_local(APP_REPO)
    outcome = reimport(location)
    assert outcome.ok, outcome.errors
    assert set(Entity.objects.values_list("kind", flat=True)) == KINDS
    assert Entity.objects.count() == outcome.created == 23
    rows = set(Relation.objects.values_list("source", "type", "target"))
    assert len(rows) > 40
    for source, rtype, target in rows:
        assert (target, RELATION_PAIRS[rtype], source) in rows, (source, rtype, target)
    for pair in [("component:default/api", "ownedBy", "group:default/platform-team"),
                 ("component:default/api", "partOf", "system:default/myproject"),
                 ("component:default/api", "providesApi", "api:default/myproject-api"),
                 ("component:default/web", "consumesApi", "api:default/myproject-api"),
                 ("component:default/api", "dependsOn", "resource:default/postgres"),
                 ("group:default/platform-team", "childOf", "group:default/engineering"),
                 ("user:default/alice", "memberOf", "group:default/platform-team"),
                 ("domain:default/commerce", "partOf", "domain:default/engineering")]:
        assert pair in rows
    assert not Relation.objects.filter(target_exists=False).exists()
    api = Entity.objects.get(ref="component:default/api")
    assert api.config_keys[:2] == ["DATABASE_URL", "REDIS_URL"]
    assert api.environments == ["dev", "test", "prod", "local"]
    assert list(Entity.in_environment("prod").filter(kind="component")
                .values_list("name", flat=True)) == ["api", "web", "worker"]
    location.refresh_from_db()
    assert (location.status, location.entity_count, location.errors) == ("ok", 23, [])
    assert any("read 8 file(s): 23 entities" in line for line in outcome.log)


def test_an_unchanged_reimport_writes_nothing(django_assert_max_num_queries):
    location = add_local(APP_REPO)
    reimport(location)
    before = dict(Entity.objects.values_list("ref", "updated_at"))
    relation_ids = set(Relation.objects.values_list("id", flat=True))
    with django_assert_max_num_queries(12):
        outcome = reimport(location)
    assert outcome.ok and (outcome.created, outcome.updated, outcome.unchanged) == (0, 0, 23)
    assert dict(Entity.objects.values_list("ref", "updated_at")) == before
    assert set(Relation.objects.values_list("id", flat=True)) == relation_ids


def test_a_changed_entity_is_the_only_one_written(repo):
    location = add_local(repo)
    reimport(location)
    before = dict(Entity.objects.values_list("ref", "updated_at"))
    path = repo / "apps/worker/catalog-info.yaml"
    path.write_text(path.read_text().replace("lifecycle: production", "lifecycle: experimental"))
    outcome = reimport(location)
    assert (outcome.created, outcome.updated, outcome.unchanged) == (0, 1, 22)
    after = dict(Entity.objects.values_list("ref", "updated_at"))
    assert [ref for ref in after if after[ref] != before[ref]] == ["component:default/worker"]
    assert Entity.objects.get(ref="component:default/worker").lifecycle == "experimental"


BREAKS = {
    "missing owner": ("apps/api/catalog-info.yaml", "  owner: platform-team\n", "",
                      "spec.owner", "component:default/api"),
    "bad name": ("apps/api/catalog-info.yaml", "  name: api\n", "  name: -api-\n",
                 "metadata.name", None),
    "wrong apiVersion": ("apps/api/catalog-info.yaml", "apiVersion: backstage.io/v1alpha1",
                         "apiVersion: backstage.io/v2", "apiVersion", "component:default/api"),
    "bad yaml": ("apps/api/catalog-info.yaml", "  name: api\n", "  name: [api\n", None, None),
}


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_a_broken_file_changes_nothing_and_reports_where(repo, case):
    file, old, new, field, entity = BREAKS[case]
    location = add_local(repo)
    assert reimport(location).ok
    snapshot = sorted(Entity.objects.values_list("ref", "fingerprint", "updated_at", "owner"))
    relations = set(Relation.objects.values_list("id", "source", "type", "target"))
    path = repo / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    (repo / "libs/shared-utils/catalog-info.yaml").unlink()  # would orphan, if committed

    outcome = reimport(location)
    assert not outcome.ok
    assert sorted(Entity.objects.values_list("ref", "fingerprint", "updated_at", "owner")) == \
        snapshot
    assert set(Relation.objects.values_list("id", "source", "type", "target")) == relations
    assert not Entity.objects.filter(orphaned=True).exists()
    location.refresh_from_db()
    assert location.status == "failed"
    errors = [e for e in location.errors if e["file"] == file]
    assert errors, location.errors
    assert all(e["line"] > 0 and e["column"] > 0 for e in errors)
    if field:
        assert any(e["field"] == field for e in errors), errors
    if entity:
        assert any(e["entity"] == entity for e in errors)
    # The errors are shown on the entity defined in that file, too.
    api = Entity.objects.get(ref="component:default/api")
    assert api.has_errors and api.errors
    # Fixing the file clears them and applies the pending change.
    path.write_text(text)
    assert reimport(location).ok
    assert not Entity.objects.filter(has_errors=True).exists()
    assert Entity.objects.get(ref="component:default/shared-utils").orphaned


def test_vanished_entities_are_orphaned_and_can_be_deleted(repo, signed_in):
    location = add_local(repo)
    reimport(location)
    (repo / "apps/worker/catalog-info.yaml").unlink()
    outcome = reimport(location)
    assert outcome.ok and outcome.orphaned == 1
    worker = Entity.objects.get(ref="component:default/worker")
    assert worker.orphaned
    # What its own descriptor said is gone; what others say about it stays.
    assert not Relation.objects.filter(source=worker.ref, type="ownedBy").exists()
    assert Relation.objects.filter(source=worker.ref, type="dependsOn").exists()
    # shared-utils still names it (dependencyOf): kept, and its target still exists.
    rel = Relation.objects.get(source="component:default/shared-utils", target=worker.ref)
    assert rel.target_exists
    page = signed_in.get(f"/catalog/locations/{location.pk}/")
    assert b"Orphaned entities (1)" in page.content
    response = signed_in.post(f"/catalog/locations/{location.pk}/orphans/delete/")
    assert response.status_code == 302
    assert not Entity.objects.filter(ref=worker.ref).exists()
    rel.refresh_from_db()
    assert not rel.target_exists  # now dangling, kept and flagged
    # The file comes back: the entity is created again and the reference resolves.
    (repo / "apps/worker/catalog-info.yaml").write_text(
        (APP_REPO / "apps/worker/catalog-info.yaml").read_text())
    assert reimport(location).created == 1
    rel.refresh_from_db()
    assert rel.target_exists


def test_the_same_entity_from_two_locations_is_refused_naming_both(repo, tmp_path):
    first = add_local(repo)
    reimport(first)
    other = tmp_path / "other"
    other.mkdir()
    (other / "catalog-info.yaml").write_text(COMPONENT.format(name="API", owner="someone"))
    second = add_local(other)
    outcome = reimport(second)
    assert not outcome.ok
    [error] = outcome.errors
    assert error["entity"] == "component:default/api" and error["field"] == "metadata.name"
    assert f"location #{first.pk}" in error["message"]
    assert f"#{second.pk}" in error["message"]
    assert "apps/api/catalog-info.yaml" in error["message"]
    assert Entity.objects.get(ref="component:default/api").location_id == first.pk


def test_dangling_references_are_kept_flagged_and_resolved_later(tmp_path, settings):
    settings.CATALOG_LOCAL_ROOTS = [tmp_path.resolve()]
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "catalog-info.yaml").write_text(COMPONENT.format(name="Svc", owner="ghost-team"))
    outcome = reimport(add_local(a))
    assert outcome.ok and any("ghost-team" in w["message"] for w in outcome.warnings)
    rel = Relation.objects.get(source="component:default/svc", type="ownedBy")
    assert (rel.target, rel.target_exists) == ("group:default/ghost-team", False)
    assert Relation.objects.filter(source="group:default/ghost-team", type="ownerOf").exists()
    (b / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: Ghost-Team\n"
        "spec:\n  type: team\n  children: []\n")
    assert reimport(add_local(b)).ok
    rel.refresh_from_db()
    assert rel.target_exists
    # Identity is case-insensitive: stored lowercase, names kept as written.
    svc = Entity.objects.get(ref="component:default/svc")
    assert svc.name == "Svc" and svc.get_absolute_url() == "/catalog/component/default/svc/"


def test_a_location_outside_the_allowed_roots_is_refused_at_import(tmp_path):
    (tmp_path / "catalog-info.yaml").write_text(COMPONENT.format(name="x", owner="y"))
    location = Location.objects.create(kind="local", target=str(tmp_path))
    outcome = reimport(location)
    assert not outcome.ok and "outside PORTAL_CATALOG_LOCAL_ROOTS" in outcome.errors[0]["message"]
    assert not Entity.objects.exists()
    location.trusted = True  # what the CLI sets: its user may read any path
    location.save()
    assert reimport(location).ok
