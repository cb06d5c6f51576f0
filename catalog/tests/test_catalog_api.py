"""The catalog API: entity list filters and constant query count, detail with relations,
locations CRUD and refresh as runs, the validator, and what the API refuses."""

from __future__ import annotations

import time
import tracemalloc

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Entity, Location
from portal.audit.models import AuditEvent
from portal.runs.models import Lock, Run

from .conftest import APP_REPO, BILLION_LAUGHS, BROKEN, add_local, reimport

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(db):
    location = add_local(APP_REPO)
    assert reimport(location).ok
    return location


def names(response):
    assert response.status_code == 200, response.content
    return sorted(e["name"] for e in response.json()["results"])


def test_entity_list_filters(api, imported):
    url = "/api/catalog/entities/"
    assert api.get(url).json()["count"] == 23
    assert names(api.get(url, {"kind": "Component"})) == [
        "api", "api-client", "shared-utils", "web", "worker"]
    assert names(api.get(url, {"kind": "component", "type": "library"})) == [
        "api-client", "shared-utils"]
    assert names(api.get(url, {"owner": "web-team"})) == names(
        api.get(url, {"owner": "group:default/web-team"}))
    assert "web" in names(api.get(url, {"owner": "web-team"}))
    assert "api" in names(api.get(url, {"system": "myproject"}))
    assert names(api.get(url, {"tag": "django"})) == ["api"]
    assert names(api.get(url, {"environment": "prod", "kind": "component"})) == [
        "api", "web", "worker"]
    assert names(api.get(url, {"q": "REST backend"})) == ["api"]
    assert names(api.get(url, {"lifecycle": "production", "kind": "api"})) == ["myproject-api"]
    assert names(api.get(url, {"orphaned": "true"})) == []
    assert names(api.get(url, {"has_errors": "false", "kind": "domain"})) == [
        "commerce", "engineering"]
    page = api.get(url, {"page_size": 5, "page": 2}).json()
    assert len(page["results"]) == 5 and page["next"] and page["previous"]
    bad = api.get(url, {"orphaned": "maybe"})
    assert bad.status_code == 400
    assert bad.json()["fields"] == {"orphaned": ["expected true or false"]}


def _fill(location, count, start=0):
    Entity.objects.bulk_create([
        Entity(ref=f"component:default/c{i}", kind="component", namespace="default",
               name=f"c{i}", api_version="backstage.io/v1alpha1", type="service",
               lifecycle="production", owner="group:default/team", sha256="x", fingerprint="x",
               file="f.yaml", location=location, tags=["a", "b"], raw={"kind": "Component"},
               tag_index=",a,b,", search=f"component:default/c{i}")
        for i in range(start, start + count)
    ])


def test_the_list_query_count_does_not_grow_with_the_catalog(api, tmp_path):
    location = Location.objects.create(kind="local", target=str(tmp_path))
    api.get("/api/catalog/entities/")  # the token's first use is recorded once
    counts = []
    for size in (60, 600):
        _fill(location, size - Entity.objects.count(), Entity.objects.count())
        for params in ({"page_size": 50}, {"page_size": 50, "tag": "a", "kind": "component"}):
            with CaptureQueriesContext(connection) as queries:
                response = api.get("/api/catalog/entities/", params)
            assert response.status_code == 200 and len(response.json()["results"]) == 50
            counts.append(len(queries))
    assert len(set(counts)) == 1, counts
    assert counts[0] <= 3  # token, count, page


def test_entity_detail_has_relations_both_ways_keys_environments_and_links(api, imported):
    data = api.get("/api/catalog/entities/component/default/api/").json()
    relations = {(r["type"], r["target"]) for r in data["relations"]}
    assert ("ownedBy", "group:default/platform-team") in relations
    assert ("dependencyOf", "component:default/web") in relations
    assert data["config_keys"][0] == "DATABASE_URL"
    assert [e["name"] for e in data["environments"]] == ["dev", "test", "prod", "local"]
    assert {"label": "GitHub repository", "url": "https://github.com/example-org/myproject",
            "annotation": "github.com/project-slug"} in data["annotation_links"]
    team = api.get("/api/catalog/entities/group/default/platform-team/").json()
    assert {"type": "ownerOf", "target": "component:default/api", "target_exists": True,
            "target_url": "/catalog/component/default/api/"} in team["relations"]
    # Identity is case-insensitive; unknown entities answer 404 in the error form.
    assert api.get("/api/catalog/entities/Component/Default/API/").status_code == 200
    missing = api.get("/api/catalog/entities/component/default/nope/")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_adding_a_location_starts_an_import_run(api, settings, tmp_path):
    response = api.post("/api/catalog/locations/", {"target": str(APP_REPO)}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    run = Run.objects.get(pk=body["id"])
    location = Location.objects.get(pk=body["location"])
    assert (run.kind, run.status, run.lock_key) == ("catalog_import", "queued",
                                                    f"location:{location.pk}")
    assert Lock.objects.filter(key=f"location:{location.pk}", run=run).exists()
    assert AuditEvent.objects.filter(action="catalog.location.add").exists()
    # The same source again is a conflict naming the existing location.
    again = api.post("/api/catalog/locations/", {"target": str(APP_REPO)}, format="json")
    assert again.status_code == 409 and again.json()["location"] == location.pk
    # Refresh while the first import still holds the lock: 409 naming the holder.
    busy = api.post(f"/api/catalog/locations/{location.pk}/refresh/")
    assert busy.status_code == 409 and busy.json()["run"] == run.pk
    Run.objects.filter(pk=run.pk).update(status="succeeded")
    Lock.objects.all().delete()
    refresh = api.post(f"/api/catalog/locations/{location.pk}/refresh/")
    assert refresh.status_code == 201
    assert Run.objects.get(pk=refresh.json()["id"]).params == {"location": location.pk,
                                                               "refresh": True}
    Lock.objects.all().delete()
    assert api.delete(f"/api/catalog/locations/{location.pk}/").status_code == 204
    assert not Location.objects.exists()


def test_a_read_token_cannot_add_or_refresh(read_api, imported):
    assert read_api.get("/api/catalog/locations/").status_code == 200
    assert read_api.post("/api/catalog/locations/", {"target": str(APP_REPO)},
                         format="json").status_code == 403
    assert read_api.post(f"/api/catalog/locations/{imported.pk}/refresh/").status_code == 403


def test_the_token_is_write_only_and_encrypted(api, settings):
    settings.CATALOG_ALLOWED_HOSTS = ["github.com"]
    secret = "ghp_thisIsNotARealTokenButLooksLikeOne0001"
    location = Location.objects.create(kind="git", target="https://github.com/org/private",
                                       token=secret)
    detail = api.get(f"/api/catalog/locations/{location.pk}/")
    assert detail.json()["has_token"] is True and secret not in detail.content.decode()
    listing = api.get("/api/catalog/locations/").content.decode()
    assert secret not in listing
    with connection.cursor() as cursor:
        cursor.execute("select token from catalog_location where id = %s", [location.pk])
        stored = cursor.fetchone()[0]
    assert secret not in stored and stored.startswith("fernet:")
    cleared = api.patch(f"/api/catalog/locations/{location.pk}/", {"token": ""}, format="json")
    assert cleared.status_code == 200 and cleared.json()["has_token"] is False


REFUSED = [
    ("https://127.0.0.1/catalog-info.yaml", "loopback"),
    ("https://localhost/catalog-info.yaml", "loopback"),
    ("https://169.254.169.254/latest/meta-data/catalog-info.yaml", "metadata"),
    ("https://10.1.2.3/org/repo.git", "private"),
    ("https://[::1]/catalog-info.yaml", "loopback"),
]


@pytest.mark.parametrize("url,why", REFUSED)
def test_ssrf_targets_are_refused_even_when_their_host_is_allowed(api, settings, url, why):
    settings.CATALOG_ALLOWED_HOSTS = ["127.0.0.1", "localhost", "169.254.169.254", "10.1.2.3",
                                      "::1"]
    response = api.post("/api/catalog/locations/", {"target": url}, format="json")
    assert response.status_code == 400, response.content
    assert why in response.json()["fields"]["target"][0]
    assert not Location.objects.exists()


@pytest.mark.parametrize("target,message", [
    ("https://evil.example.org/catalog-info.yaml", "not in PORTAL_CATALOG_ALLOWED_HOSTS"),
    ("http://github.com/org/repo", "refused"),
    ("ext::sh -c id", "refused"),
    ("ssh://git@github.com/org/repo", "refused"),
    ("https://user:pw@github.com/org/repo", "credentials"),
    ("/etc", "outside PORTAL_CATALOG_LOCAL_ROOTS"),
    ("file:///etc/passwd", "outside PORTAL_CATALOG_LOCAL_ROOTS"),
    (str(APP_REPO / ".." / ".." / "portal"), "outside PORTAL_CATALOG_LOCAL_ROOTS"),
])
def test_sources_outside_the_allowlists_are_refused(api, target, message):
    response = api.post("/api/catalog/locations/", {"target": target}, format="json")
    assert response.status_code == 400, response.content
    assert message in str(response.json()["fields"])


def test_a_path_that_leaves_the_repository_is_refused(api):
    response = api.post("/api/catalog/locations/", {
        "target": "https://github.com/org/repo", "path": "../../etc"}, format="json")
    assert response.status_code == 400 and "inside the repository" in str(response.json())


def test_fetch_time_checks_refuse_what_slipped_past_creation(settings, tmp_path):
    """DNS can change after a location was added: the import checks again."""
    settings.CATALOG_ALLOWED_HOSTS = ["localhost"]
    for kind, target in (("url", "https://localhost/catalog-info.yaml"),
                         ("git", "https://localhost/org/repo.git"),
                         ("git", str(tmp_path))):
        location = Location.objects.create(kind=kind, target=target)
        outcome = reimport(location)
        assert not outcome.ok
        assert "refused" in outcome.errors[0]["message"], outcome.errors


def test_validate_reports_without_storing(api):
    text = (APP_REPO / "apps/api/catalog-info.yaml").read_bytes()
    ok = api.generic("POST", "/api/catalog/validate/", text, content_type="application/yaml")
    assert ok.status_code == 200
    assert ok.json()["valid"] is True and ok.json()["errors"] == []
    assert [e["ref"] for e in ok.json()["entities"]] == [
        "component:default/api", "api:default/myproject-api"]
    bad = api.generic("POST", "/api/catalog/validate/",
                      (BROKEN / "missing-owner.yaml").read_bytes(),
                      content_type="application/yaml")
    body = bad.json()
    assert body["valid"] is False and body["entities"] == []
    assert body["errors"] == [{"file": "catalog-info.yaml", "line": 5, "column": 1,
                               "entity": "component:default/no-owner", "field": "spec.owner",
                               "message": "spec.owner is required for kind Component"}]
    assert not Entity.objects.exists() and not Location.objects.exists()
    wrong_type = api.post("/api/catalog/validate/", {"a": 1}, format="json")
    assert wrong_type.status_code == 415


def test_billion_laughs_is_refused_fast_and_small(api):
    payload = BILLION_LAUGHS.read_bytes()
    tracemalloc.start()
    started = time.monotonic()
    response = api.generic("POST", "/api/catalog/validate/", payload,
                           content_type="application/yaml")
    elapsed = time.monotonic() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert response.status_code == 200 and response.json()["valid"] is False
    assert "alias" in response.json()["errors"][0]["message"].lower() or \
        "anchor" in response.json()["errors"][0]["message"].lower()
    assert elapsed < 1.0 and peak < 100 * 2**20


def test_the_catalog_endpoints_are_in_the_openapi_schema(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in ("/api/catalog/entities/", "/api/catalog/entities/{kind}/{namespace}/{name}/",
                 "/api/catalog/locations/", "/api/catalog/locations/{id}/",
                 "/api/catalog/locations/{id}/refresh/", "/api/catalog/validate/"):
        assert path in schema["paths"], path
    assert "application/yaml" in schema["paths"]["/api/catalog/validate/"]["post"][
        "requestBody"]["content"]


def test_the_api_dry_run_returns_the_preview(api, tmp_path, settings):
    settings.CATALOG_LOCAL_ROOTS = [tmp_path.resolve()]
    (tmp_path / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: svc\n"
        "  namespace:\nspec: {type: service, lifecycle: production, owner: team-a}\n")
    response = api.post("/api/catalog/locations/", {"target": str(tmp_path), "dry_run": True},
                        format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["dry_run"] is True and body["ok"] is False
    assert [(e["field"], e["line"]) for e in body["errors"]] == [("metadata.namespace", 5)]
    assert not Location.objects.exists() and not Run.objects.exists()
    (tmp_path / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: svc\n"
        "spec: {type: service, lifecycle: production, owner: team-a}\n")
    body = api.post("/api/catalog/locations/", {"target": str(tmp_path), "dry_run": True},
                    format="json").json()
    assert body["ok"] and body["created"] == ["component:default/svc"]
    assert (body["updated"], body["orphaned"], body["unchanged"]) == ([], [], 0)
    location = Location.objects.create(kind="local", target=str(tmp_path.resolve()))
    assert reimport(location).ok
    (tmp_path / "catalog-info.yaml").write_text("")
    body = api.post(f"/api/catalog/locations/{location.pk}/refresh/?dry_run=true").json()
    assert body["orphaned"] == ["component:default/svc"] and body["created"] == []
    assert not Run.objects.exists()


def test_unknown_kinds_follow_the_setting(api, settings):
    text = b"apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec: {}\n"
    refused = api.generic("POST", "/api/catalog/validate/", text,
                          content_type="application/yaml").json()
    assert refused["valid"] is False and "unknown kind 'Widget'" in refused["errors"][0][
        "message"]
    settings.CATALOG_ALLOW_UNKNOWN_KINDS = True
    kept = api.generic("POST", "/api/catalog/validate/", text,
                       content_type="application/yaml").json()
    assert kept["valid"] is True and kept["entities"][0]["kind"] == "Widget"
    assert "unknown kind" in kept["warnings"][0]["message"]
