"""The example app repo loads cleanly and carries the portal's extras."""

import time
from collections import Counter
from pathlib import Path

import pytest

from catalog.descriptor import load_location, well_known

APP_REPO = Path(__file__).resolve().parents[2] / "examples" / "app-repo"


@pytest.fixture(scope="module")
def result():
    return load_location(APP_REPO)


def test_the_example_repo_is_valid_and_complete(result):
    assert result.errors == []
    assert result.warnings == []
    assert result.files == [
        "catalog-info.yaml",
        "apps/api/catalog-info.yaml",
        "apps/web/catalog-info.yaml",
        "apps/worker/catalog-info.yaml",
        "libs/api-client/catalog-info.yaml",
        "libs/shared-utils/catalog-info.yaml",
        "infra/catalog-info.yaml",
        "templates/new-service/template.yaml",
    ]
    assert Counter(e.kind for e in result.entities) == {
        "Location": 1, "Domain": 2, "System": 1, "Group": 3, "User": 2, "Environment": 4,
        "Component": 5, "API": 1, "Resource": 3, "Template": 1,
    }


def test_component_record_fields(result):
    api = result.by_ref()["component:default/api"]
    assert (api.kind, api.namespace, api.name, api.spec_type, api.lifecycle) == (
        "Component", "default", "api", "service", "production")
    assert (api.owner, api.system) == ("group:default/platform-team", "system:default/myproject")
    assert api.title == "My Project API" and api.tags == ["python", "django", "rest"]
    assert (api.file, api.line, api.column) == ("apps/api/catalog-info.yaml", 1, 1)
    assert api.links == [{"url": "https://api.myproject.example.org/docs", "title": "API docs"}]
    assert api.raw["spec"]["providesApis"] == ["myproject-api"]
    assert len(api.sha256) == 64
    assert api.environments == ["dev", "test", "prod", "local"]
    assert api.to_dict()["refs"]["dependsOn"] == [
        "resource:default/postgres", "resource:default/redis"]


def test_config_keys_come_from_the_nearest_env_example(result):
    by_ref = result.by_ref()
    assert by_ref["component:default/api"].config_keys == [
        "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "OTEL_EXPORTER_OTLP_ENDPOINT", "ALLOWED_HOSTS"]
    assert by_ref["component:default/web"].config_keys == ["PUBLIC_API_BASE_URL"]
    # No .env.example next to the worker: the repo root's one applies.
    assert by_ref["component:default/worker"].config_keys == [
        "LOG_LEVEL", "OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert by_ref["resource:default/postgres"].config_keys == []


def test_well_known_annotations(result):
    api = result.by_ref()["component:default/api"]
    info = well_known(api.annotations)
    assert info["github_url"] == "https://github.com/example-org/myproject"
    assert info["source_location"] == (
        "url", "https://github.com/example-org/myproject/tree/main/apps/api/")
    assert info["techdocs_ref"] == ("dir", ".")
    assert info["kubernetes_id"] == "myproject-api"
    assert info["kubernetes_namespace"] == "myproject"
    assert info["kubernetes_label_selector"] == "app.kubernetes.io/name=myproject-api"
    assert info["environments"] == ["dev", "test", "prod", "local"]
    assert well_known({})["github_url"] is None


def test_unknown_references_and_environments_are_warnings(tmp_path):
    (tmp_path / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: c\n"
        "  annotations:\n    eaas.portal/environments: staging\n"
        "spec:\n  type: service\n  lifecycle: production\n  owner: nobody\n"
    )
    result = load_location(tmp_path)
    assert result.errors == []
    assert [(w.field, w.line) for w in result.warnings] == [
        ("spec.owner", 10), ("metadata.annotations.eaas.portal/environments", 6)]
    assert "group:default/nobody" in result.warnings[0].message


def test_ten_thousand_entities_parse_quickly(tmp_path):
    entity = (
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: s{f}-{i}\n"
        "  tags: [python]\n  annotations:\n    backstage.io/kubernetes-id: s{f}-{i}\n"
        "spec:\n  type: service\n  lifecycle: production\n  owner: team\n"
        "  dependsOn: [component:s{f}-0]\n"
    )
    team = "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team}\n" \
           "spec: {type: team, children: []}\n"
    (tmp_path / "catalog-info.yaml").write_text(team)
    for f in range(500):
        d = tmp_path / f"app{f}"
        d.mkdir()
        (d / "catalog-info.yaml").write_text(
            "---\n".join(entity.format(f=f, i=i) for i in range(20)))
    started = time.perf_counter()
    result = load_location(tmp_path, discover=True)
    elapsed = time.perf_counter() - started
    assert len(result.entities) == 10_001 and result.errors == [] and result.warnings == []
    assert elapsed < 10  # ~2 s on a shared 2-core box; generous for CI noise
