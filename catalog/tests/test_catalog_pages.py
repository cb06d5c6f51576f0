"""The catalog pages of the owner's daily flow (issue 16): short names with the full
reference on hover, Components first, an API's definition as documentation, what a
Component runs where (the board's panel), deleting a location after saying what goes with
it, and a first import that fails leaving no location behind."""

from __future__ import annotations

import html as htmllib
import json
import re

import pytest

from catalog.models import Entity, Location
from envs.deploys.models import Release, Target
from envs.models import Environment
from portal.audit.models import AuditEvent
from portal.runs.engine import execute_run
from portal.runs.models import Run

from .conftest import APP_REPO, add_local, reimport

API = """apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: {name}
spec:
  type: {type}
  lifecycle: production
  owner: group:default/platform-team
  definition: |
{definition}
"""


def indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


@pytest.fixture
def imported(db):
    location = add_local(APP_REPO)
    assert reimport(location).ok
    return location


@pytest.fixture
def api_entities(tmp_path, settings, db):
    """A location of API entities, one per kind of definition (name -> definition)."""
    settings.CATALOG_LOCAL_ROOTS = [tmp_path.resolve()]

    def make(**definitions: tuple[str, str]) -> Location:
        docs = [API.format(name=name, type=kind, definition=indent(text))
                for name, (kind, text) in definitions.items()]
        (tmp_path / "catalog-info.yaml").write_text("---\n".join(docs))
        location = add_local(tmp_path)
        outcome = reimport(location)
        assert outcome.ok, outcome.errors
        return location
    return make


def imported_file(tmp_path, settings, text: str) -> None:
    """``text`` as the catalog file of a new local location, imported."""
    settings.CATALOG_LOCAL_ROOTS = [tmp_path.resolve()]
    (tmp_path / "catalog-info.yaml").write_text(text)
    assert reimport(add_local(tmp_path)).ok


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


# --- 1. short names, Components first --------------------------------------------------------

def test_the_list_shows_short_names_with_the_full_reference_on_hover(signed_in, imported):
    html = page(signed_in, "/catalog/")
    # Components unless another kind is asked for; the kind filter says so
    assert re.search(r'<option value="component" selected>Component</option>', html)
    assert "5 entities" in html and "My Project API" in html
    assert "platform-team" in html
    assert '<a href="?owner=group%3Adefault/platform-team" ' \
           'title="group:default/platform-team">platform-team</a>' in html
    assert 'title="system:default/myproject">myproject</a>' in html
    assert ">group:default/platform-team<" not in html and ">system:default/myproject<" not in html
    assert 'title="component:default/api">My Project API</a>' in html
    # a visible way to every kind
    assert '<a class="badge" href="?kind=" id="all-kinds">All kinds</a>' in html
    every = page(signed_in, "/catalog/?kind=")
    assert "23 entities" in every and 'id="all-kinds">' in every
    assert 'class="badge active" href="?kind=" id="all-kinds"' in every
    assert '<option value="" selected>' not in every and \
        '<option value="component" selected>' not in every
    # a filter link (an owner, a location) lists every kind it matches
    owned = page(signed_in, "/catalog/?owner=group:default/platform-team")
    assert "myproject-api" in owned  # an API, not a Component
    assert "23 entities" in page(signed_in, f"/catalog/?location={imported.pk}")


def test_a_namespace_other_than_default_is_kept_in_the_short_name(signed_in, tmp_path,
                                                                  settings):
    imported_file(tmp_path, settings, (
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: billing\n"
        "  namespace: payments\nspec:\n  type: service\n  lifecycle: production\n"
        "  owner: group:finance/ledger-team\n  system: system:default/money\n"))
    html = page(signed_in, "/catalog/")
    assert 'title="group:finance/ledger-team">finance/ledger-team</a>' in html
    assert 'title="system:default/money">money</a>' in html
    entity = page(signed_in, "/catalog/component/payments/billing/")
    assert 'title="group:finance/ledger-team">finance/ledger-team</a>' in entity
    assert '<code title="group:finance/ledger-team">finance/ledger-team</code>' in entity


def test_the_entity_page_shows_short_names_for_owner_system_and_relations(signed_in,
                                                                          imported):
    html = page(signed_in, "/catalog/component/default/api/")
    assert 'title="group:default/platform-team">platform-team</a></dd>' in html
    assert 'title="system:default/myproject">myproject</a></dd>' in html
    relations = re.search(r"<th>Relation</th>.*?</table>", html, re.S).group(0)
    assert '<a href="/catalog/group/default/platform-team/" ' \
           'title="group:default/platform-team">platform-team</a>' in relations
    assert '<span class="badge">group</span>' in relations
    assert ">group:default/" not in relations and ">api:default/" not in relations
    assert "<time datetime=" in html  # "Updated" is relative, exact on hover


# --- 2. an API's definition ---------------------------------------------------------------

OPENAPI3 = """openapi: 3.0.3
info:
  title: Pet Store
  version: 2.1.0
  description: "Pets for sale. <script>alert('desc')</script>"
servers:
  - url: https://pets.example.org/v2
    description: production
paths:
  /pets/{petId}:
    parameters:
      - name: petId
        in: path
        required: true
        schema: {type: string, format: uuid}
    get:
      summary: Find a pet <img src=x onerror=alert(1)>
      operationId: getPet
      parameters:
        - $ref: '#/components/parameters/Verbose'
      responses:
        '200':
          description: The pet
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Pet'}
        404:
          description: No such pet
    put:
      summary: Replace a pet
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Pet'}
      responses:
        '204': {description: Replaced}
components:
  parameters:
    Verbose: {name: verbose, in: query, schema: {type: boolean}, description: more fields}
  schemas:
    Pet: {type: object, properties: {id: {type: string}}}
"""

SWAGGER2_JSON = json.dumps({
    "swagger": "2.0", "info": {"title": "Legacy Orders", "version": "1"},
    "host": "orders.example.org", "basePath": "/api", "schemes": ["https"],
    "paths": {"/orders": {"post": {
        "summary": "Place an order",
        "parameters": [{"name": "order", "in": "body", "required": True,
                        "schema": {"$ref": "#/definitions/Order"}}],
        "responses": {"201": {"description": "Placed", "schema": {
            "type": "array", "items": {"$ref": "#/definitions/Order"}}}}}}},
    "definitions": {"Order": {"type": "object"}},
}, indent=1)

ASYNCAPI2 = """asyncapi: 2.6.0
info: {title: Signup Events, version: 1.0.0}
servers:
  broker: {url: 'mqtt://broker.example.org', protocol: mqtt}
channels:
  user/signedup:
    description: A user signed up
    subscribe:
      summary: Learn about new users
      operationId: onSignup
      message:
        name: UserSignedUp
        payload: {type: object}
  user/deleted:
    publish:
      message:
        oneOf:
          - {name: UserDeleted}
          - $ref: '#/components/messages/UserPurged'
components:
  messages:
    UserPurged: {name: UserPurged}
"""

ASYNCAPI3 = """asyncapi: 3.0.0
info: {title: Light Meter, version: 0.1.0}
channels:
  lightMeasured:
    address: smartylighting/measured
    messages:
      lightMeasuredMessage: {name: LightMeasured}
operations:
  sendMeasurement:
    action: send
    summary: Publish a measurement
    channel: {$ref: '#/channels/lightMeasured'}
    messages:
      - $ref: '#/channels/lightMeasured/messages/lightMeasuredMessage'
  receiveMeasurement:
    action: receive
    channel: {$ref: '#/channels/lightMeasured'}
"""

GRAPHQL = """type Query {
  pet(id: ID!): Pet  # <script>alert('gql')</script>
}
"""


def test_an_openapi_3_definition_reads_as_documentation(signed_in, api_entities):
    api_entities(pets=("openapi", OPENAPI3))
    html = page(signed_in, "/catalog/api/default/pets/")
    doc = re.search(r'<div class="panel api-doc">.*?\n</div>', html, re.S).group(0)
    assert '<span class="badge info">OpenAPI 3.0.3</span>' in html
    assert "Pet Store" in doc and "version 2.1.0" in doc
    assert "<code>https://pets.example.org/v2</code>" in doc and "production" in doc
    assert '<span class="badge api-method method-get">GET</span> ' \
           '<code class="api-route">/pets/{petId}</code>' in doc
    assert '<span class="badge api-method method-put">PUT</span>' in doc
    assert "<code>petId</code> <span class=\"muted\">required</span>" in doc
    assert "string (uuid)" in doc
    assert "<code>verbose</code>" in doc and "more fields" in doc  # a $ref parameter
    assert '<span class="badge success">200</span> The pet · <code>application/json</code> ' \
           'Pet' in doc
    assert '<span class="badge failed">404</span> No such pet' in doc  # an unquoted code
    assert "Request body" in doc and "required" in doc
    assert "<code>Pet</code>" in doc  # the schemas
    assert "operation <code>getPet</code>" in doc
    # untrusted text is escaped, never markup
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#x27;desc&#x27;)&lt;/script&gt;" in doc
    assert "&lt;img src=x onerror=alert(1)&gt;" in doc
    assert "None" not in doc and "True" not in doc


def test_an_openapi_2_json_definition_reads_as_documentation(signed_in, api_entities):
    api_entities(orders=("openapi", SWAGGER2_JSON))
    doc = page(signed_in, "/catalog/api/default/orders/")
    assert "OpenAPI 2.0" in doc and "Legacy Orders" in doc
    assert "<code>https://orders.example.org/api</code>" in doc
    assert '<span class="badge api-method method-post">POST</span>' in doc
    assert "Place an order" in doc and "Request body" in doc
    assert '<span class="badge success">201</span> Placed' in doc and "array of Order" in doc


def test_asyncapi_definitions_read_as_channels_and_messages(signed_in, api_entities):
    api_entities(signups=("asyncapi", ASYNCAPI2), meter=("asyncapi", ASYNCAPI3))
    two = page(signed_in, "/catalog/api/default/signups/")
    assert "AsyncAPI 2.6.0" in two and "Signup Events" in two
    assert "<code>mqtt://broker.example.org</code>" in two and "mqtt" in two
    assert "<h5><code>user/signedup</code></h5>" in two and "A user signed up" in two
    assert ">subscribe</span> Learn about new users" in two
    assert '<code class="api-message">UserSignedUp</code>' in two
    assert ">publish</span>" in two
    assert '<code class="api-message">UserDeleted</code>, ' \
           '<code class="api-message">UserPurged</code>' in two
    three = page(signed_in, "/catalog/api/default/meter/")
    assert "AsyncAPI 3.0.0" in three and "<code>smartylighting/measured</code>" in three
    assert ">send</span> Publish a measurement" in three and ">receive</span>" in three
    assert three.count('<code class="api-message">LightMeasured</code>') == 2


def test_other_definitions_are_text_and_unreadable_ones_say_why(signed_in, api_entities):
    api_entities(graph=("graphql", GRAPHQL), broken=("openapi", "openapi: 3.0.0\npaths: [\n"),
                 unmarked=("openapi", "title: not an openapi document\n"),
                 listing=("asyncapi", "- a\n- b\n"))
    graph = page(signed_in, "/catalog/api/default/graph/")
    box = re.search(r'<pre class="code api-text"[^>]*>(.*?)</pre>', graph, re.S)
    assert box and 'data-language="graphql"' in graph
    assert "type Query {" in box.group(1) and "pet(id: ID!): Pet" in box.group(1)
    assert "&lt;script&gt;alert(&#x27;gql&#x27;)&lt;/script&gt;" in box.group(1)
    assert "<script>alert" not in graph and "api-problem" not in graph
    broken = page(signed_in, "/catalog/api/default/broken/")
    assert "Shown as text: the definition could not be read as YAML or JSON" in broken
    assert "line 3" in broken and "paths: [" in broken
    unmarked = page(signed_in, "/catalog/api/default/unmarked/")
    assert "needs a top-level openapi or swagger field" in unmarked
    assert "title: not an openapi document" in unmarked
    listing = page(signed_in, "/catalog/api/default/listing/")
    assert "is not one YAML or JSON document holding a mapping" in listing


def test_an_unresolved_substitution_says_where_the_definition_is(signed_in, tmp_path, settings):
    imported_file(tmp_path, settings, (
        "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: elsewhere\n"
        "spec:\n  type: openapi\n  lifecycle: production\n  owner: team-a\n"
        "  definition:\n    $text: ./openapi.yaml\n"))
    html = page(signed_in, "/catalog/api/default/elsewhere/")
    assert "The definition is read from ./openapi.yaml ($text), which the portal does " \
           "not fetch" in html


# --- 3. what a Component runs where -----------------------------------------------------

def test_a_component_page_shows_what_runs_in_each_environment(signed_in, imported, owner):
    dev = Environment.objects.create(name="dev", tier="dev")
    prod = Environment.objects.create(name="prod", tier="prod")
    Environment.objects.create(name="test", tier="test")
    api = "component:default/api"
    Target.objects.create(environment=prod, component=api)
    Release.objects.create(environment=dev, component=api, actor="the-owner",
                           image="ghcr.io/example-org/api:1.4.2",
                           digest="sha256:" + "ab12cd34ef56" + "0" * 52,
                           workload="deployment dev/api container app")
    html = page(signed_in, "/catalog/component/default/api/")
    panel = re.search(r'<h2 id="deployed">.*?\n</div>\n', html, re.S).group(0)
    row = re.search(r'<tr class="entity-deploy" data-env="dev">.*?</tr>', panel, re.S).group(0)
    assert ">1.4.2</code>" in row and "@ab12cd34ef56" in row
    assert 'title="ghcr.io/example-org/api:1.4.2"' in row
    assert "deployed <time datetime=" in row and "just now</time> by the-owner" in row
    assert '<a href="/board/#cell-dev-api">on the board</a>' in row
    prod_row = re.search(r'data-env="prod">.*?</tr>', panel, re.S).group(0)
    assert "target set, nothing released yet" in prod_row
    assert "Not deployed to test." in panel
    # the anchor is a cell of the board
    assert 'id="cell-dev-api"' in page(signed_in, "/board/")
    # not a Component: no panel; a Component never released says so
    assert 'id="deployed"' not in page(signed_in, "/catalog/api/default/myproject-api/")
    web = page(signed_in, "/catalog/component/default/web/")
    assert "Not released to any environment yet" in web


# --- 4. deleting a location asks first ----------------------------------------------------

def test_deleting_a_location_asks_first_and_says_how_many_entities_go(signed_in, api,
                                                                     imported):
    location = page(signed_in, imported.get_absolute_url())
    assert f'href="/catalog/locations/{imported.pk}/delete/">Delete location…</a>' in location
    ask = page(signed_in, f"/catalog/locations/{imported.pk}/delete/")
    assert f"Delete location <code>{htmllib.escape(str(imported))}</code> and its 23 " \
           "entities?" in ask
    assert "Delete location and 23 entities</button>" in ask
    assert Location.objects.filter(pk=imported.pk).exists()  # asking deletes nothing
    done = signed_in.post(f"/catalog/locations/{imported.pk}/delete/")
    assert done.status_code == 302 and done["Location"] == "/catalog/locations/"
    assert not Location.objects.exists() and not Entity.objects.exists()
    assert AuditEvent.objects.get(action="catalog.location.delete").detail["entities"] == 23
    assert signed_in.get(f"/catalog/locations/{imported.pk}/delete/").status_code == 404
    # the API deletes without a page in between (as before)
    again = add_local(APP_REPO)
    assert reimport(again).ok
    assert api.delete(f"/api/catalog/locations/{again.pk}/").status_code == 204
    assert not Entity.objects.exists()


def test_a_location_under_import_cannot_be_deleted(signed_in, imported):
    from catalog.services import start_import

    run = start_import(imported, enqueue=False)
    ask = page(signed_in, f"/catalog/locations/{imported.pk}/delete/")
    assert f"run #{run.pk}" in ask and "disabled>Delete location" in ask
    refused = signed_in.post(f"/catalog/locations/{imported.pk}/delete/", follow=True)
    assert "Refused" in refused.content.decode()
    assert Location.objects.filter(pk=imported.pk).exists()


# --- 5. a failed first import leaves no half-made location --------------------------------

def _ended_run() -> Run:
    run = Run.objects.get(kind="catalog_import")
    execute_run(run.pk)
    run.refresh_from_db()
    return run


@pytest.mark.django_db(transaction=True)
def test_a_first_import_of_invalid_yaml_from_the_page_leaves_nothing(signed_in, owner,
                                                                      tmp_path, settings):
    settings.CATALOG_LOCAL_ROOTS = [tmp_path.resolve()]
    (tmp_path / "catalog-info.yaml").write_text("kind: Component\nmetadata: [\n")
    target = str(tmp_path)
    preview = signed_in.post("/catalog/locations/", {"target": target})
    html = preview.content.decode()
    assert "1 error(s)" in html and "YAML syntax error" in html
    assert f'<input name="target" value="{target}"' in html  # the typed source stays
    assert 'disabled title="fix the errors first"' in html
    # Import anyway (a post straight to the import step): the run fails, nothing stays
    response = signed_in.post("/catalog/locations/", {"target": target, "action": "import"})
    assert response.status_code == 302
    run = _ended_run()
    assert run.status == "failed"
    assert "catalog-info.yaml:3:1: YAML syntax error" in run.error
    assert "nothing was imported and the location is not kept" in run.error
    assert not Location.objects.exists() and not Entity.objects.exists()
    assert AuditEvent.objects.filter(action="catalog.location.add").count() == 1
    discard = AuditEvent.objects.get(action="catalog.location.discard")
    assert discard.run_id == run.pk and discard.detail["reason"] == "its first import failed"
    # the run page offers the form again, the source filled in
    run_page = page(signed_in, f"/runs/{run.pk}/")
    link = re.search(r'<a class="btn" id="next-retry" href="([^"]+)">Retry: add the location '
                     r'again</a>', run_page)
    assert link, run_page
    form = page(signed_in, htmllib.unescape(link.group(1)))
    assert f'<input name="target" value="{target}"' in form


def test_an_unreachable_url_is_refused_before_anything_is_stored(api, signed_in, settings):
    """The host is resolved when the source is checked: the API answers 400 naming it, the
    page keeps the typed URL next to the same error, and neither stores a thing."""
    settings.CATALOG_ALLOWED_HOSTS = ["catalog.invalid", "localhost"]
    target = "https://catalog.invalid/org/catalog-info.yaml"
    refused = api.post("/api/catalog/locations/", {"target": target}, format="json")
    assert refused.status_code == 400
    assert "cannot resolve catalog.invalid" in refused.json()["fields"]["target"][0]
    loopback = api.post("/api/catalog/locations/",
                        {"target": "https://localhost/catalog-info.yaml"}, format="json")
    assert loopback.status_code == 400 and "loopback" in loopback.json()["detail"]
    for action in ("preview", "import"):
        form = signed_in.post("/catalog/locations/", {"target": target, "action": action})
        html = form.content.decode()
        assert form.status_code == 400 and "cannot resolve catalog.invalid" in html
        assert f'<input name="target" value="{target}"' in html
    assert not Location.objects.exists() and not Run.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_source_gone_before_its_first_import_and_a_canceled_one_leave_nothing(
        api, signed_in, tmp_path, settings):
    settings.CATALOG_LOCAL_ROOTS = [tmp_path.resolve()]
    gone = tmp_path / "gone.yaml"
    gone.write_text(API.format(name="x", type="graphql", definition="    type Q { a: Int }"))
    created = api.post("/api/catalog/locations/", {"target": str(gone)}, format="json")
    assert created.status_code == 201
    gone.unlink()  # a 404 of a local source
    assert execute_run(created.json()["id"]) == "failed"
    assert "no such file or directory" in Run.objects.get().error
    assert not Location.objects.exists()
    # canceled while queued: the location goes with it too
    (tmp_path / "catalog-info.yaml").write_text(
        API.format(name="y", type="graphql", definition="    type Q { a: Int }"))
    queued = api.post("/api/catalog/locations/", {"target": str(tmp_path)}, format="json")
    assert api.post(f"/api/runs/{queued.json()['id']}/cancel/").status_code in (200, 202)
    assert Run.objects.get(pk=queued.json()["id"]).status == "canceled"
    assert not Location.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_failed_refresh_keeps_the_location_and_its_entities(api, repo):
    created = api.post("/api/catalog/locations/", {"target": str(repo)}, format="json")
    assert execute_run(created.json()["id"]) == "succeeded"
    location = Location.objects.get()
    (repo / "catalog-info.yaml").write_text("kind: [\n")
    refresh = api.post(f"/api/catalog/locations/{location.pk}/refresh/")
    assert execute_run(refresh.json()["id"]) == "failed"
    location.refresh_from_db()
    assert location.status == "failed" and location.entity_count == 23
    assert Entity.objects.count() == 23
    assert not AuditEvent.objects.filter(action="catalog.location.discard").exists()
    # a first import that failed once and was refreshed later is kept, too: only the
    # first import run discards
    assert Run.objects.get(pk=refresh.json()["id"]).params == {"location": location.pk,
                                                               "refresh": True}


ODD_SHAPES = [
    "openapi: 3.0.0\ninfo: just a string\nservers: {a: b}\npaths: [1, 2]\n",
    "openapi: 3.0.0\npaths:\n  /x: [get]\n  /y:\n    get: null\n    post:\n"
    "      parameters: {a: 1}\n      responses: [200]\n"
    "      requestBody: {$ref: '#/nowhere/at/all'}\n",
    "swagger: '2.0'\nhost: [h]\nschemes: oops\npaths:\n  /z:\n    get:\n      parameters:\n"
    "        - {in: body}\n        - {$ref: 7}\n"
    "      responses: {200: 5, 'default': {schema: 1}}\n",
    "asyncapi: 2.0.0\nchannels:\n  c: 5\n  d:\n    publish: {message: {oneOf: 3}}\n"
    "servers: [1]\n",
    "asyncapi: 3.0.0\noperations:\n  o: {action: [send], channel: 4, messages: {a: 1}}\n"
    "  p: 3\nchannels: {x: {messages: [1, 2]}}\n",
    "openapi: 3.0.0\npaths:\n  /r:\n    $ref: '#/paths/~1r'\n",
]


@pytest.mark.parametrize("definition", ODD_SHAPES)
def test_odd_shapes_of_a_definition_never_fail_the_page(signed_in, api_entities, definition):
    kind = "asyncapi" if definition.startswith("asyncapi") else "openapi"
    api_entities(odd=(kind, definition))
    html = page(signed_in, "/catalog/api/default/odd/")
    assert 'class="panel api-doc"' in html
    assert "None" not in html.split('class="panel api-doc"')[1].split("<h2>Relations")[0]
