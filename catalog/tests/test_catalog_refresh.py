"""Issue 17: re-imports reuse the parse of every unchanged file, and a refresh after one
file changed touches only that file's entities, while the stored relations stay exactly
what a full import computes."""

from __future__ import annotations

import pytest

from catalog.descriptor import load_location
from catalog.descriptor.loader import clear_cache
from catalog.models import Entity, Relation

from .conftest import add_local, reimport

pytestmark = pytest.mark.django_db

HEAD = "apiVersion: backstage.io/v1alpha1\n"


def component(name, owner="team-a", deps=()):
    dep = f"  dependsOn: [{', '.join(deps)}]\n" if deps else ""
    return (f"{HEAD}kind: Component\nmetadata:\n  name: {name}\nspec:\n  type: service\n"
            f"  lifecycle: production\n  owner: {owner}\n  system: shop\n{dep}")


@pytest.fixture
def tree(tmp_path, settings):
    settings.CATALOG_LOCAL_ROOTS = [tmp_path.resolve()]
    root = tmp_path / "cat"
    files = {
        "a": [f"{HEAD}kind: Group\nmetadata: {{name: {g}}}\nspec: {{type: team, children: []}}\n"
              for g in ("team-a", "team-b")] + [
            f"{HEAD}kind: System\nmetadata: {{name: shop}}\nspec: {{owner: team-a}}\n"],
        "b": [component("svc-1"), component("svc-2", deps=["component:svc-1"])],
        "c": [component("svc-3", deps=["component:svc-2", "resource:db"]), component("svc-4")],
    }
    for name, docs in files.items():
        (root / name).mkdir(parents=True)
        (root / name / "catalog-info.yaml").write_text("---\n".join(docs))
    clear_cache()
    return root


def stored_relations(location):
    return set(Relation.objects.filter(location=location)
               .values_list("source", "type", "target", "target_exists"))


def expected_relations(root):
    clear_cache()
    result = load_location(root, discover=True)
    refs = {e.ref for e in result.entities} | set(Entity.objects.values_list("ref", flat=True))
    return {(r.source, r.type, r.target, r.target in refs) for r in result.relations}


def test_unchanged_reimport_writes_nothing_and_keeps_the_relations(tree):
    location = add_local(tree)
    assert reimport(location).ok
    before = stored_relations(location)
    again = reimport(location)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 7)
    assert (again.relations_added, again.relations_removed) == (0, 0)
    assert stored_relations(location) == before == expected_relations(tree)


def test_one_changed_file_touches_only_its_entities(tree):
    location = add_local(tree)
    assert reimport(location).ok
    untouched = dict(Entity.objects.exclude(file="c/catalog-info.yaml")
                     .values_list("ref", "updated_at"))
    (tree / "c" / "catalog-info.yaml").write_text(
        "---\n".join([component("svc-3", owner="team-b", deps=["component:svc-1"]),
                      component("svc-4")]))
    outcome = reimport(location)
    assert outcome.ok and (outcome.updated, outcome.created) == (1, 0)
    assert dict(Entity.objects.exclude(file="c/catalog-info.yaml")
                .values_list("ref", "updated_at")) == untouched
    rels = stored_relations(location)
    assert rels == expected_relations(tree)
    assert ("component:default/svc-3", "ownedBy", "group:default/team-b", True) in rels
    assert not any(r[0] == "component:default/svc-3" and r[2] == "resource:default/db"
                   for r in rels)


def test_a_vanished_file_orphans_its_entities_and_drops_their_relations(tree):
    location = add_local(tree)
    assert reimport(location).ok
    (tree / "c" / "catalog-info.yaml").unlink()
    (tree / "c").rmdir()
    outcome = reimport(location)
    assert outcome.ok and outcome.orphaned == 2
    assert stored_relations(location) == expected_relations(tree)
    assert set(Entity.objects.filter(orphaned=True).values_list("name", flat=True)) == {
        "svc-3", "svc-4"}


def test_a_file_that_turns_invalid_changes_nothing_and_recovers(tree):
    location = add_local(tree)
    assert reimport(location).ok
    before = stored_relations(location)
    good = (tree / "b" / "catalog-info.yaml").read_text()
    (tree / "b" / "catalog-info.yaml").write_text(good.replace("owner: team-a", "owner: ''"))
    assert not reimport(location).ok
    assert stored_relations(location) == before
    (tree / "b" / "catalog-info.yaml").write_text(good)
    assert reimport(location).ok
    assert stored_relations(location) == before


@pytest.mark.django_db(databases=[])
def test_a_fresh_process_reads_the_parse_back_from_the_cache_dir(tree, tmp_path):
    cache = tmp_path / "parse-cache"
    first = load_location(tree, discover=True, cache_dir=cache)
    assert len(list(cache.glob("*.pickle"))) == 3
    clear_cache()  # a new process
    again = load_location(tree, discover=True, cache_dir=cache)
    assert [e.to_dict() for e in again.entities] == [e.to_dict() for e in first.entities]
    assert again.relations == first.relations and again.warnings == first.warnings
    for path in cache.glob("*.pickle"):
        path.write_bytes(b"not a pickle")  # a damaged cache is ignored, never trusted
    clear_cache()
    damaged = load_location(tree, discover=True, cache_dir=cache)
    assert [e.ref for e in damaged.entities] == [e.ref for e in first.entities]
    (tree / "b" / "catalog-info.yaml").write_text(component("svc-9"))
    clear_cache()
    changed = load_location(tree, discover=True, cache_dir=cache)
    assert "component:default/svc-9" in {e.ref for e in changed.entities}
    assert "component:default/svc-1" not in {e.ref for e in changed.entities}
