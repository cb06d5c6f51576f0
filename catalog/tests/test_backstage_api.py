"""The Backstage-compatible read routes, with hand-written requests (the real
@backstage/catalog-client drives them in tests/test_backstage_client.py)."""

from __future__ import annotations

import base64
import json

import pytest
from rest_framework.test import APIClient

from catalog.models import Entity

from .conftest import APP_REPO, add_local, reimport

pytestmark = pytest.mark.django_db

B = "/api/catalog"


@pytest.fixture
def imported(db):
    location = add_local(APP_REPO)
    assert reimport(location).ok
    return location


def ok(response):
    assert response.status_code == 200, response.content
    return response.json()


def test_entities_are_full_backstage_entities(api, imported):
    items = ok(api.get(f"{B}/entities"))
    assert isinstance(items, list) and len(items) == Entity.objects.count()
    web = next(e for e in items if e["metadata"]["name"] == "web")
    assert web["kind"] == "Component" and web["apiVersion"] == "backstage.io/v1alpha1"
    assert web["metadata"]["namespace"] == "default"
    assert web["metadata"]["uid"] == str(Entity.objects.get(ref="component:default/web").uid)
    assert web["metadata"]["etag"]
    assert web["metadata"]["annotations"]["backstage.io/managed-by-location"].startswith("file:")
    owned = [r for r in web["relations"] if r["type"] == "ownedBy"]
    assert owned and owned[0]["targetRef"].startswith("group:")
    assert set(owned[0]["target"]) == {"kind", "namespace", "name"}


def test_filter_semantics(api, imported):
    def names(*filters, **extra):
        params = [("filter", f) for f in filters] + list(extra.items())
        query = "&".join(f"{k}={v}" for k, v in params)
        return sorted(e["metadata"]["name"] for e in ok(api.get(f"{B}/entities?{query}")))

    components = names("kind=component")
    assert components == names("KIND=Component")  # keys and values case-insensitive
    libraries = names("kind=component,spec.type=library")  # ANDed
    assert libraries and set(libraries) < set(components)
    systems = names("kind=system")
    assert names("kind=component", "kind=system") == sorted(components + systems)  # ORed
    assert names("kind=component,kind=system") == sorted(components + systems)
    with_owner = names("spec.owner")  # key alone: exists
    assert set(components) <= set(with_owner)
    assert names("kind=nothing") == []


def test_fields_order_offset_limit_after(api, imported):
    items = ok(api.get(f"{B}/entities?fields=kind,metadata.name&order=desc:metadata.name"))
    assert all(set(e) == {"kind", "metadata"} and set(e["metadata"]) == {"name"}
               for e in items)
    got = [e["metadata"]["name"].lower() for e in items]
    assert got == sorted(got, reverse=True)
    page = api.get(f"{B}/entities?order=asc:metadata.name&limit=5&offset=2")
    assert [e["metadata"]["name"].lower() for e in ok(page)] == sorted(got)[2:7]
    link = page["Link"]
    after = link.split("after=")[1].split(">")[0]
    nxt = ok(api.get(f"{B}/entities?order=asc:metadata.name&limit=5&after={after}"))
    assert [e["metadata"]["name"].lower() for e in nxt] == sorted(got)[7:12]


def test_by_query_pages_with_cursors(api, imported):
    total = Entity.objects.count()
    first = ok(api.get(f"{B}/entities/by-query?limit=10&orderField=metadata.name,asc"))
    assert first["totalItems"] == total and len(first["items"]) == 10
    seen = [e["metadata"]["name"] for e in first["items"]]
    cursor = first["pageInfo"]["nextCursor"]
    while cursor:
        page = ok(api.get(f"{B}/entities/by-query", {"cursor": cursor, "limit": 10}))
        seen += [e["metadata"]["name"] for e in page["items"]]
        cursor = page["pageInfo"].get("nextCursor")
    assert len(seen) == total and seen == sorted(seen, key=str.lower)
    found = ok(api.get(f"{B}/entities/by-query", {"fullTextFilterTerm": "WEB"}))
    assert {e["metadata"]["name"] for e in found["items"]} >= {"web"}
    assert found["totalItems"] == len(found["items"])


def test_by_refs_by_uid_by_name_and_ancestry(api, imported):
    body = {"entityRefs": ["component:default/web", "component:default/nope",
                           "Component:Default/Web"], "fields": ["metadata.name"]}
    items = ok(api.post(f"{B}/entities/by-refs", body, format="json"))["items"]
    assert items == [{"metadata": {"name": "web"}}, None, {"metadata": {"name": "web"}}]
    web = ok(api.get(f"{B}/entities/by-name/component/default/web"))
    assert ok(api.get(f"{B}/entities/by-uid/{web['metadata']['uid']}")) == web
    assert ok(api.get(f"{B}/entities/by-name/Component/default/WEB")) == web
    ancestry = ok(api.get(f"{B}/entities/by-name/component/default/web/ancestry"))
    assert ancestry["rootEntityRef"] == "component:default/web"
    assert ancestry["items"][0]["entity"] == web


def test_facets_and_locations(api, imported):
    facets = ok(api.get(f"{B}/entity-facets?facet=kind&facet=spec.type&filter=kind=component"))
    kinds = facets["facets"]["kind"]
    assert kinds == [{"value": "Component", "count": 5}]
    assert sum(f["count"] for f in facets["facets"]["spec.type"]) == 5
    locations = ok(api.get(f"{B}/locations"))
    assert locations == [{"data": {"id": str(imported.pk), "type": "file",
                                   "target": imported.target}}]
    assert ok(api.get(f"{B}/locations/{imported.pk}")) == locations[0]["data"]


@pytest.mark.parametrize("url", [
    "/entities/by-name/component/default/missing", "/entities/by-uid/not-a-uuid",
    "/entities/by-uid/00000000-0000-0000-0000-000000000000", "/locations/999999",
    "/locations/abc"])
def test_not_found_is_backstage_shaped(api, imported, url):
    response = api.get(B + url)
    assert response.status_code == 404
    body = response.json()
    assert body["error"]["name"] == "NotFoundError" and body["error"]["message"]
    assert body["response"] == {"statusCode": 404}
    assert body["request"]["method"] == "GET" and body["request"]["url"].endswith(url)


@pytest.mark.parametrize("url", [
    "/entities?order=sideways:x", "/entities?limit=-1", "/entities?offset=x",
    "/entities?filter==x", "/entities/by-query?cursor=!!!", "/entity-facets",
    f"/entities/by-query?cursor={base64.b64encode(b'[1]').decode()}"])
def test_bad_input_is_a_backstage_input_error(api, imported, url):
    response = api.get(B + url)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["name"] == "InputError"


def test_by_refs_refuses_a_malformed_body(api, imported):
    for body in ({}, {"entityRefs": "x"}, {"entityRefs": [1]}, []):
        response = api.post(f"{B}/entities/by-refs", json.dumps(body),
                            content_type="application/json")
        assert response.status_code == 400
        assert response.json()["error"]["name"] == "InputError"


def test_tokens_as_everywhere_and_errors_in_backstage_shape(read_api, imported):
    assert ok(read_api.get(f"{B}/entities?filter=kind=component"))
    anonymous = APIClient().get(f"{B}/entities")
    assert anonymous.status_code in (401, 403)
    assert anonymous.json()["error"]["name"] in ("AuthenticationError", "NotAllowedError")
    assert read_api.post(f"{B}/entities/by-refs", {"entityRefs": []},
                         format="json").status_code == 200  # a read, though a POST


def test_the_portal_api_is_unchanged(api, imported):
    assert ok(api.get("/api/catalog/entities/"))["count"] == Entity.objects.count()
    assert ok(api.get("/api/catalog/locations/"))["count"] == 1
