"""Catalog pages, the import run end to end, and the hourly refresh schedule."""

from __future__ import annotations

import re

import pytest

from catalog.models import Entity, Location
from catalog.services import refresh_all, start_import
from portal.audit.models import AuditEvent
from portal.runs.engine import execute_run
from portal.runs.models import Lock, Run, RunLine
from portal.runs.schedules import SCHEDULES

from .conftest import APP_REPO, add_local, reimport


@pytest.fixture
def imported(db):
    location = add_local(APP_REPO)
    assert reimport(location).ok
    return location


def test_the_list_page_filters_searches_and_pages(signed_in, imported):
    page = signed_in.get("/catalog/")
    assert page.status_code == 200  # Components unless asked otherwise
    assert b"5 entities" in page.content and b"My Project API" in page.content
    every = signed_in.get("/catalog/", {"kind": ""})
    assert b"23 entities" in every.content and b"My Project API" in every.content
    only = signed_in.get("/catalog/", {"kind": "resource"}).content.decode()
    assert "3 entities" in only and "My Project API" not in only
    found = signed_in.get("/catalog/", {"q": "rest backend"}).content.decode()
    assert "1 entities" in found
    pages = signed_in.get("/catalog/", {"page": 2, "kind": "component"}).content.decode()
    assert "page 1 of 1" in pages  # out-of-range pages fall back to the last one
    bad = signed_in.get("/catalog/", {"has_errors": "perhaps"}).content.decode()
    assert "expected true or false" in bad


def test_the_entity_page_draws_the_relation_graph(signed_in, imported, tmp_path, settings):
    html = signed_in.get("/catalog/component/default/api/").content.decode()
    svg = re.search(r'<svg class="catalog-graph".*?</svg>', html, re.S).group(0)
    assert '<a href="/catalog/group/default/platform-team/">' in svg
    assert '<a href="/catalog/api/default/myproject-api/">' in svg
    assert ">ownedBy</text>" in svg and ">dependsOn</text>" in svg
    assert 'marker-end="url(#arrow)"' in svg
    assert "style=" not in html  # CSP: classes only
    assert "DATABASE_URL" in html and "https://github.com/example-org/myproject" in html
    assert 'href="/catalog/environment/default/prod/"' in html
    # A dangling reference is drawn as missing, not as a link.
    settings.CATALOG_LOCAL_ROOTS = [tmp_path.resolve()]
    (tmp_path / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: lonely\n"
        "spec:\n  type: service\n  lifecycle: experimental\n  owner: nobody\n")
    assert reimport(add_local(tmp_path)).ok
    html = signed_in.get("/catalog/component/default/lonely/").content.decode()
    assert 'class="node missing kind-group"' in html
    assert "not in the catalog" in html


def test_a_failed_import_is_shown_on_the_location_and_its_entities(signed_in, repo):
    location = add_local(repo)
    reimport(location)
    path = repo / "apps/api/catalog-info.yaml"
    path.write_text(path.read_text().replace("  owner: platform-team\n", "", 1))
    reimport(location)
    page = signed_in.get(f"/catalog/locations/{location.pk}/").content.decode()
    assert "Errors (1)" in page and "apps/api/catalog-info.yaml:" in page
    assert "spec.owner" in page
    entity = signed_in.get("/catalog/component/default/api/").content.decode()
    assert "Errors from the last import" in entity and "spec.owner" in entity
    assert "group:default/platform-team" in entity  # the previous version stays


def test_adding_a_location_in_the_ui_redirects_to_its_run(signed_in, db):
    refused = signed_in.post("/catalog/locations/", {"target": "/etc"})
    assert refused.status_code == 400 and b"outside PORTAL_CATALOG_LOCAL_ROOTS" in refused.content
    preview = signed_in.post("/catalog/locations/", {"target": str(APP_REPO)})
    assert preview.status_code == 200 and b"23 created" in preview.content
    assert not Location.objects.exists() and not Run.objects.exists()  # nothing stored yet
    response = signed_in.post("/catalog/locations/", {"target": str(APP_REPO),
                                                      "action": "import"})
    run = Run.objects.get(kind="catalog_import")
    assert response.status_code == 302 and response["Location"] == f"/runs/{run.pk}/"
    location = Location.objects.get()
    assert signed_in.get("/catalog/locations/").status_code == 200
    busy = signed_in.post(f"/catalog/locations/{location.pk}/refresh/")
    assert busy.status_code == 302 and busy["Location"] == location.get_absolute_url()


@pytest.mark.django_db(transaction=True)
def test_an_import_run_end_to_end_never_shows_the_token(api, settings):
    settings.CATALOG_ALLOWED_HOSTS = ["github.com"]
    created = api.post("/api/catalog/locations/", {"target": str(APP_REPO)}, format="json")
    assert execute_run(created.json()["id"]) == "succeeded"
    assert Entity.objects.count() == 23
    # A private repository whose fetch fails: the token appears nowhere.
    secret = "ghp_neverShowThisTokenAnywhere000000000001"
    location = Location.objects.create(kind="url", target="https://github.com/x/y.yaml",
                                       token=secret)
    run = start_import(location)
    assert execute_run(run.pk) == "failed"  # no network here
    texts = list(RunLine.objects.values_list("text", flat=True))
    texts += [str(r.result) + r.error for r in Run.objects.all()]
    texts += [str(e.detail) for e in AuditEvent.objects.all()]
    texts.append(api.get(f"/api/catalog/locations/{location.pk}/").content.decode())
    texts.append(api.get(f"/api/runs/{run.pk}/log/").content.decode())
    assert texts and not [t for t in texts if secret in t]
    location.refresh_from_db()
    assert location.status == "failed" and location.errors


def test_the_hourly_refresh_starts_scheduled_runs_and_skips_busy_locations(imported):
    assert SCHEDULES["catalog: refresh every location"]["func"] == "catalog.services.refresh_all"
    assert SCHEDULES["catalog: refresh every location"]["minutes"] == 60
    other = Location.objects.create(kind="local", target=str(APP_REPO / "apps"))
    busy = start_import(imported)
    started = refresh_all()
    assert len(started) == 1
    run = Run.objects.get(pk=started[0])
    assert run.scheduled and run.params == {"location": other.pk, "refresh": True}
    assert Lock.objects.get(key=f"location:{imported.pk}").run == busy
    skipped = AuditEvent.objects.get(action="schedule.skipped")
    assert skipped.target == f"location:{imported.pk}"


def test_the_preview_shows_every_issue_at_its_line_and_imports_nothing(signed_in, tmp_path,
                                                                      settings):
    settings.CATALOG_LOCAL_ROOTS = [tmp_path.resolve()]
    (tmp_path / "catalog-info.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: svc\n"
        "  links:\n    - url: http://[fd00::1/status\nspec:\n  type: service\n"
        "  lifecycle: production\n  owner: team-a\n---\n"
        "apiVersion: backstage.io/v1alpha1\nkind: Widget\nmetadata:\n  name: w\nspec: {}\n")
    page = signed_in.post("/catalog/locations/", {"target": str(tmp_path)})
    html = page.content.decode()
    assert page.status_code == 200 and "2 error(s)" in html
    assert "catalog-info.yaml:6:" in html and "http://[fd00::1/status" in html  # its line
    assert "catalog-info.yaml:13:" in html and "unknown kind" in html
    assert "Nothing will be imported until the errors are fixed" in html
    assert 'disabled title="fix the errors first"' in html
    assert not Location.objects.exists() and not Run.objects.exists()


def test_the_refresh_preview_shows_updated_and_orphaned(signed_in, tmp_path, settings):
    settings.CATALOG_LOCAL_ROOTS = [tmp_path.resolve()]
    comp = ("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {}\n"
            "spec: {{type: service, lifecycle: production, owner: {}}}\n")
    (tmp_path / "catalog-info.yaml").write_text(comp.format("a", "x") + "---\n"
                                                + comp.format("b", "x"))
    location = Location.objects.create(kind="local", target=str(tmp_path))
    from .conftest import reimport
    assert reimport(location).ok
    (tmp_path / "catalog-info.yaml").write_text(comp.format("a", "y") + "---\n"
                                                + comp.format("c", "x"))
    page = signed_in.get(f"/catalog/locations/{location.pk}/preview/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "1 created" in html and "1 updated" in html and "1 orphaned" in html
    assert "component:default/b" in html and "component:default/c" in html
    assert Location.objects.get().entities.filter(name="c").count() == 0  # nothing stored


def test_the_dashboard_shows_the_catalog_and_its_failing_locations(signed_in, imported):
    broken = Location.objects.create(kind="local", target="/nonexistent", status="failed")
    page = signed_in.get("/").content.decode()
    assert 'id="catalog-dashboard"' in page
    assert f"{Entity.objects.count()} entities" in page
    assert "import failed" in page and broken.get_absolute_url() in page
