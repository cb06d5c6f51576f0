"""The catalog pages in Chromium: Components first with short names (the full reference on
hover), an API's definition read as documentation (no script of the definition runs), a
Component's deploys linking to its board cell, deleting a location after the page says how
many entities go with it, and a failed preview keeping the typed source."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from catalog.models import Location
from envs.deploys.models import Release
from envs.models import Environment
from tests.conftest import shot

from .conftest import APP_REPO, add_local, reimport
from .test_catalog_pages import API, GRAPHQL, OPENAPI3, indent

pytestmark = pytest.mark.browser


@pytest.fixture
def catalog(tmp_path, settings):
    """The example app repo, plus a location of two API entities (OpenAPI, GraphQL)."""
    settings.CATALOG_LOCAL_ROOTS = [tmp_path.resolve(), APP_REPO.resolve()]
    assert reimport(add_local(APP_REPO)).ok
    (tmp_path / "catalog-info.yaml").write_text(
        API.format(name="pets", type="openapi", definition=indent(OPENAPI3)) + "---\n"
        + API.format(name="graph", type="graphql", definition=indent(GRAPHQL)))
    apis = add_local(tmp_path)
    assert reimport(apis).ok
    return apis


def no_sideways_scroll(page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 860})


def test_the_catalog_pages_in_a_browser(signed_in_page, catalog, tmp_path):
    page = signed_in_page
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    dev = Environment.objects.create(name="dev", tier="dev")
    Environment.objects.create(name="prod", tier="prod")
    Release.objects.create(environment=dev, component="component:default/api",
                           image="ghcr.io/example-org/api:1.4.2", actor="the-owner",
                           digest="sha256:" + "ab12cd34ef56" + "0" * 52, workload="x")

    # 1. the list: Components, short names, the full reference on hover
    page.goto(f"{page.base}/catalog/")
    expect(page.locator("select[name=kind]")).to_have_value("component")
    expect(page.locator(".pager")).to_contain_text("5 entities")
    owner = page.locator("table.catalog-table tbody tr", has_text="My Project API") \
        .locator("td").nth(4).locator("a")
    expect(owner).to_have_text("platform-team")
    expect(owner).to_have_attribute("title", "group:default/platform-team")
    shot(page, "catalog-list-components")
    no_sideways_scroll(page)
    page.click("#all-kinds")
    expect(page.locator(".pager")).to_contain_text("25 entities")
    expect(page.locator("select[name=kind]")).to_have_value("")

    # 2. an API's definition as documentation; its <script> is text
    page.goto(f"{page.base}/catalog/api/default/pets/")
    doc = page.locator(".api-doc")
    expect(doc.locator(".api-title")).to_contain_text("Pet Store")
    expect(doc).to_contain_text("https://pets.example.org/v2")
    get = doc.locator("details.api-op", has=page.locator(".method-get"))
    expect(get.locator("summary")).to_contain_text("GET")
    expect(get.locator("summary")).to_contain_text("/pets/{petId}")
    expect(get.locator(".api-params")).to_contain_text("petId")
    expect(get.locator(".api-responses")).to_contain_text("404")
    expect(doc.locator(".api-description")).to_contain_text("<script>alert('desc')</script>")
    get.locator("summary").click()  # folds like any details
    expect(get.locator(".api-params")).to_be_hidden()
    shot(page, "catalog-api-openapi")
    no_sideways_scroll(page)
    page.goto(f"{page.base}/catalog/api/default/graph/")
    box = page.locator("pre.api-text")
    expect(box).to_contain_text("type Query {")
    assert box.evaluate("e => getComputedStyle(e).overflowY") == "auto"
    no_sideways_scroll(page)
    assert dialogs == []  # nothing of a definition ran

    # 3. a Component: what runs where, a link to its board cell
    page.goto(f"{page.base}/catalog/component/default/api/")
    row = page.locator("tr.entity-deploy[data-env=dev]")
    expect(row.locator(".board-tag")).to_have_text("1.4.2")
    expect(row.locator(".board-digest")).to_have_text("@ab12cd34ef56")
    expect(row).to_contain_text("by the-owner")
    expect(row.locator("time")).to_have_attribute(
        "title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"))
    shot(page, "catalog-component-deploys")
    no_sideways_scroll(page)
    row.get_by_role("link", name="on the board").click()
    page.wait_for_url("**/board/#cell-dev-api")
    expect(page.locator("#cell-dev-api .board-tag")).to_have_text("1.4.2")
    expect(page.locator("#cell-dev-api")).to_be_in_viewport()

    # 4. deleting a location asks first, with how many entities go
    page.goto(f"{page.base}{catalog.get_absolute_url()}")
    page.get_by_role("link", name="Delete location…").click()
    expect(page.locator("#confirm-delete")).to_contain_text(
        f"Delete location {catalog} and its 2 entities?")
    assert Location.objects.filter(pk=catalog.pk).exists()
    shot(page, "catalog-location-delete")
    page.get_by_role("button", name="Delete location and 2 entities").click()
    page.wait_for_url("**/catalog/locations/")
    expect(page.locator(".messages")).to_contain_text("and its 2 entities deleted")
    assert not Location.objects.filter(pk=catalog.pk).exists()

    # 5. a source that does not read: the preview says why and keeps what was typed
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "catalog-info.yaml").write_text("kind: Component\nmetadata: [\n")
    page.fill("input[name=target]", str(broken))
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-issues")).to_contain_text("YAML syntax error")
    expect(page.locator("form.catalog-form input[name=target]")).to_have_value(str(broken))
    expect(page.get_by_role("button", name="Import", exact=True)).to_be_disabled()
    assert Location.objects.count() == 1  # the example repo only
