"""Location following: resolution under a root, loops, limits, discovery, duplicates."""

import os
import textwrap

import pytest

from catalog.descriptor import (
    LocationError,
    discover_catalog_files,
    load_location,
    resolve_target,
)


def location(name, *targets, presence=None):
    body = "\n".join(f"    - {t}" for t in targets)
    extra = f"  presence: {presence}\n" if presence else ""
    return (f"apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: {name}\n"
            f"spec:\n{extra}  targets:\n{body}\n")


def system(name):
    return (f"apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n  name: {name}\n"
            "spec:\n  owner: team\n")


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_location_loop_is_detected_and_reported_at_the_target(tmp_path):
    write(tmp_path / "a.yaml", location("a", "./sub/b.yaml"))
    write(tmp_path / "sub" / "b.yaml", location("b", "../a.yaml") + "---\n" + system("s"))
    result = load_location(tmp_path / "a.yaml")
    assert result.files == ["a.yaml", "sub/b.yaml"]
    (err,) = result.errors
    assert (err.file, err.line, err.field, err.entity) == (
        "sub/b.yaml", 7, "spec.targets.0", "location:default/b")
    assert err.message == "Location loop: a.yaml -> sub/b.yaml -> a.yaml"
    assert {e.ref for e in result.entities} == {
        "location:default/a", "location:default/b", "system:default/s"}


def test_a_diamond_reads_the_shared_file_once_without_errors(tmp_path):
    write(tmp_path / "root.yaml", location("root", "./x.yaml", "./y.yaml"))
    write(tmp_path / "x.yaml", location("x", "./shared.yaml"))
    write(tmp_path / "y.yaml", location("y", "./shared.yaml"))
    write(tmp_path / "shared.yaml", system("shared"))
    result = load_location(tmp_path / "root.yaml")
    assert result.errors == []
    assert result.files == ["root.yaml", "x.yaml", "shared.yaml", "y.yaml"]


def test_targets_that_leave_the_root_are_refused(tmp_path):
    repo = tmp_path / "repo"
    write(tmp_path / "outside.yaml", system("secret"))
    write(repo / "catalog-info.yaml", location("root", "../outside.yaml", "/etc/passwd", "../*"))
    result = load_location(repo)
    assert [e.field for e in result.errors] == [
        "spec.targets.0", "spec.targets.1", "spec.targets.2"]
    assert all("outside the repository root" in e.message for e in result.errors)
    assert [e.ref for e in result.entities] == ["location:default/root"]


def test_symlinks_out_of_the_root_are_refused(tmp_path):
    repo = tmp_path / "repo"
    write(tmp_path / "outside.yaml", system("secret"))
    repo.mkdir()
    os.symlink(tmp_path / "outside.yaml", repo / "link.yaml")
    with pytest.raises(LocationError, match="outside the repository root"):
        resolve_target("./link.yaml", str(repo / "catalog-info.yaml"), str(repo))


def test_resolve_target_handles_globs_directories_and_remote_urls(tmp_path):
    write(tmp_path / "apps" / "a" / "catalog-info.yaml", system("a"))
    write(tmp_path / "apps" / "b" / "catalog-info.yaml", system("b"))
    write(tmp_path / "libs" / "c" / "catalog-info.yaml", system("c"))
    (tmp_path / "libs" / "empty").mkdir()
    base = str(tmp_path / "catalog-info.yaml")
    real = os.path.realpath(tmp_path)
    assert resolve_target("./apps/*/catalog-info.yaml", base, str(tmp_path)) == [
        f"{real}/apps/a/catalog-info.yaml", f"{real}/apps/b/catalog-info.yaml"]
    assert resolve_target("libs/*", base, str(tmp_path)) == [f"{real}/libs/c/catalog-info.yaml"]
    assert resolve_target("file:./apps/a", base, str(tmp_path)) == [
        f"{real}/apps/a/catalog-info.yaml"]
    assert resolve_target("./nothing.yaml", base, str(tmp_path)) == []
    with pytest.raises(LocationError) as info:
        resolve_target("https://github.com/o/r/blob/main/catalog-info.yaml", base, str(tmp_path))
    assert info.value.severity == "warning"


def test_missing_targets_are_errors_unless_optional(tmp_path):
    write(tmp_path / "a.yaml", location("a", "./missing.yaml"))
    result = load_location(tmp_path / "a.yaml")
    assert [(e.field, e.line) for e in result.errors] == [("spec.targets.0", 7)]
    write(tmp_path / "b.yaml", location("b", "./missing.yaml", presence="optional"))
    assert load_location(tmp_path / "b.yaml").errors == []


def test_depth_and_file_count_limits(tmp_path):
    for i in range(5):
        write(tmp_path / f"l{i}.yaml", location(f"l{i}", f"./l{i + 1}.yaml"))
    write(tmp_path / "l5.yaml", system("end"))
    deep = load_location(tmp_path / "l0.yaml", max_depth=2)
    assert deep.files == ["l0.yaml", "l1.yaml", "l2.yaml"]
    assert [(e.file, e.field) for e in deep.errors] == [("l2.yaml", "spec.targets.0")]
    assert "deeper than 2" in deep.errors[0].message
    many = load_location(tmp_path / "l0.yaml", max_files=3)
    assert many.files == ["l0.yaml", "l1.yaml", "l2.yaml"]
    assert ["more than 3 catalog files" in e.message for e in many.errors] == [True]
    assert load_location(tmp_path / "l0.yaml").errors == []


def test_duplicate_entities_across_files_name_both_files(tmp_path):
    write(tmp_path / "catalog-info.yaml", location("root", "./a/catalog-info.yaml",
                                                   "./b/catalog-info.yaml"))
    write(tmp_path / "a" / "catalog-info.yaml", system("Shop"))
    write(tmp_path / "b" / "catalog-info.yaml", "# again\n" + system("shop"))
    result = load_location(tmp_path)
    (err,) = result.errors
    assert (err.file, err.line, err.entity) == ("b/catalog-info.yaml", 2, "system:default/shop")
    assert "also defined in a/catalog-info.yaml line 1" in err.message
    assert [e.file for e in result.entities if e.kind == "System"] == ["a/catalog-info.yaml"]


def test_discovery_skips_git_node_modules_and_hidden_dirs(tmp_path):
    for rel in ["catalog-info.yaml", "svc/catalog-info.yaml", "svc/deep/x/catalog-info.yml",
                ".git/catalog-info.yaml", "node_modules/p/catalog-info.yaml",
                ".hidden/catalog-info.yaml", "svc/other.yaml"]:
        write(tmp_path / rel, system("s"))
    found = [os.path.relpath(p, os.path.realpath(tmp_path))
             for p in discover_catalog_files(str(tmp_path))]
    assert found == ["catalog-info.yaml", "svc/catalog-info.yaml", "svc/deep/x/catalog-info.yml"]


def test_a_directory_without_root_descriptor_is_discovered(tmp_path):
    write(tmp_path / "one" / "catalog-info.yaml", system("one"))
    write(tmp_path / "two" / "catalog-info.yaml", system("two"))
    result = load_location(tmp_path)
    assert result.files == ["one/catalog-info.yaml", "two/catalog-info.yaml"]
    assert sorted(e.name for e in result.entities) == ["one", "two"]


def test_start_path_outside_root_is_refused(tmp_path):
    write(tmp_path / "x.yaml", system("x"))
    result = load_location(tmp_path / "x.yaml", root=tmp_path / "sub")
    assert result.entities == [] and "outside the root" in result.errors[0].message
