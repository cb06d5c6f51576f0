"""The board from the database: rows from the catalog and targets, columns in promotion
order, each cell's release, pending promotions, missing keys, the prod confirmation and
actions that cannot work disabled with the reason; never a request to a cluster."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest

from catalog.models import Entity, Location
from envs.deploys.models import Release, Target
from envs.models import Environment
from envs.secrets.models import Secret
from portal.errors import ConfirmationRequired, NotConfigured
from portal.runs.models import Run
from portal.runs.pages import refusal

pytestmark = pytest.mark.django_db

SHOP = "component:default/shop"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


@pytest.fixture
def silent_cluster():
    """An API server address that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(50)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = sock.getsockname()[1]
    yield port
    stop.set()
    thread.join(2)
    for s in held:
        s.close()
    sock.close()


def kubeconfig(port: int) -> str:
    return f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}
users: [{{name: u, user: {{token: t0ken-never-shown}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
"""


def entity(name: str, **extra) -> Entity:
    location = Location.objects.get_or_create(kind="local", target="/tmp/board-repo")[0]
    return Entity.objects.create(location=location, ref=f"component:default/{name}",
                                 kind="component", namespace="default", name=name,
                                 api_version="backstage.io/v1alpha1", **extra)


def release(env, image, digest="", actor="owner", status="live"):
    return Release.objects.create(environment=env, component=SHOP, image=image, digest=digest,
                                  workload="deployment x/shop container app", actor=actor,
                                  status=status)


@pytest.fixture
def world(silent_cluster):
    made = {}
    for name, tier in (("prod", "prod"), ("dev", "dev"), ("local", "local"), ("test", "test")):
        made[name] = Environment.objects.create(name=name, tier=tier,
                                                kubeconfig=kubeconfig(silent_cluster))
    entity("shop", config_keys=["DATABASE_URL", "MODE"])
    entity("billing")
    for env in made.values():
        if env.name != "local":
            Target.objects.create(environment=env, component=SHOP, deployment="shop",
                                  container="app")
    release(made["dev"], "ghcr.io/acme/shop:1.0", D1, status="superseded")
    release(made["dev"], "ghcr.io/acme/shop:1.1", D2, actor="alice")
    release(made["test"], "ghcr.io/acme/shop:1.0", D1)
    Secret.objects.create(environment=made["dev"], name="DATABASE_URL")
    return made


def cell(page: str, env: str, name: str = "shop") -> str:
    match = re.search(rf'<td id="cell-{env}-{name}".*?</td>', page, re.S)
    assert match, f"no cell {env}/{name}"
    return match.group(0)


def test_board_rows_columns_cells(signed_in, world):
    signed_in.get("/board/")  # templates compiled, session read: what the owner waits for
    started = time.monotonic()
    response = signed_in.get("/board/")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 0.3, f"the board took {elapsed:.3f} s with a cluster that never answers"
    page = response.content.decode()
    # columns: dev -> test -> prod, then the others
    heads = re.findall(r"<th><a href=\"/envs/([a-z]+)/overview/\">", page)
    assert heads == ["dev", "test", "prod", "local"]
    # rows: every catalog component, short names with the full ref on hover
    assert 'title="component:default/billing">billing<' in page
    assert 'title="component:default/shop">shop<' in page
    dev = cell(page, "dev")
    assert ">1.1<" in dev and "@222222222222" in dev and "by alice" in dev
    assert "<time datetime=" in dev and 'title="' in dev
    # test runs 1.0 while dev runs 1.1: test is pending, prod (nothing yet) too
    assert "pending from dev" in cell(page, "test")
    assert "pending from test" in cell(page, "prod")
    assert "pending" not in cell(page, "dev")
    # Promote -> test from dev, Rollback to 1.0 in dev
    assert "Promote → test" in dev
    assert re.search(r'<option value="\d+">#\d+ ghcr.io/acme/shop:1.0', dev)
    # missing keys: MODE is set nowhere, DATABASE_URL is a secret in dev
    assert "1 key missing" in dev and "missing: MODE" in dev
    assert "2 keys missing" in cell(page, "test")
    # prod actions keep the typed confirmation
    assert 'name="confirm" required' in cell(page, "prod")
    assert 'name="confirm"' not in dev
    # health not read yet: loaded apart
    assert "health unknown" in dev
    assert 'hx-get="/board/health/dev/"' in page
    assert "{'" not in page and "None" not in page


def test_the_navigation_links_the_board_first(signed_in, world):
    page = signed_in.get("/").content.decode()
    nav = page.split('<nav id="main-nav">', 1)[1].split("</nav>", 1)[0]
    assert re.findall(r'href="([^"]+)"', nav)[0] == "/board/"
    assert 'id="board-summary"' in page


def test_deploy_without_a_cluster_is_disabled_and_says_why(signed_in, world):
    before = cell(signed_in.get("/board/").content.decode(), "dev")
    assert "No cluster connection" not in before and " disabled" not in before
    world["dev"].kubeconfig = None
    world["dev"].save()
    page = signed_in.get("/board/").content.decode()
    dev = cell(page, "dev")
    why = "No cluster connection in dev: set one in Deploys"
    assert re.search(r'<button class="btn" type="submit" name="action" value="deploy" '
                     rf'disabled title="{why}"', dev)
    # Rollback (dev has an earlier release) too; Promote -> test stays: test has a cluster.
    assert re.search(r'name="action" value="rollback" disabled title="No cluster', dev)
    assert re.search(r'name="action" value="promote" title="deploy ', dev)
    assert dev.count('No cluster connection in dev: <a href="/envs/dev/deploys/#cluster">'
                     'set one in Deploys</a>') == 2
    # The environment promoted to has none: Promote says so, naming that environment.
    world["test"].kubeconfig = None
    world["test"].save()
    dev = cell(signed_in.get("/board/").content.decode(), "dev")
    assert re.search(r'name="action" value="promote" disabled title="No cluster connection '
                     r'in test: set one in Deploys"', dev)
    assert 'No cluster connection in test: <a href="/envs/test/deploys/#cluster">' in dev
    # And a post that tries anyway is refused before anything is written.
    counts = (Run.objects.count(), Target.objects.count(), Release.objects.count())
    page = signed_in.post("/board/dev/deploy/", {"component": SHOP, "tag": "1.2",
                                                 "cell": "cell-dev-shop"},
                          HTTP_HX_REQUEST="true").content.decode()
    assert "dev has no cluster connection: set one on its Deploys tab" in page
    assert (Run.objects.count(), Target.objects.count(), Release.objects.count()) == counts


def test_an_htmx_deploy_answers_the_row_polling_while_the_run_goes(signed_in, world):
    response = signed_in.post("/board/dev/deploy/", {"component": SHOP, "tag": "1.2",
                                                     "cell": "cell-dev-shop"},
                              HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    run = Run.objects.get(kind="deploy")
    assert run.params["image"] == "ghcr.io/acme/shop:1.2"
    assert run.params["environment"] == "dev" and run.actor
    row = response.content.decode()
    assert row.startswith('<tr id="row-shop"') and 'hx-trigger="every 1s"' in row
    assert f'href="/runs/{run.pk}/"' in cell(row, "dev") and "deploy queued" in row
    # once the run is over, the row stops polling
    Run.objects.filter(pk=run.pk).update(status="failed")
    again = signed_in.get("/board/rows/" + SHOP).content.decode()
    assert "hx-trigger" not in again.split(">", 1)[0]
    assert "deploy failed" in cell(again, "dev")


def test_prod_refuses_without_the_typed_name_and_says_so_in_the_cell(signed_in, world):
    response = signed_in.post("/board/test/promote/", {"component": SHOP, "to": "prod",
                                                       "cell": "cell-test-shop"},
                              HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert not Run.objects.exists()
    text = cell(response.content.decode(), "test")
    assert 'role="alert"' in text and "repeat its name" in text
    response = signed_in.post("/board/test/promote/", {"component": SHOP, "to": "prod",
                                                       "confirm": "prod"},
                              HTTP_HX_REQUEST="true")
    run = Run.objects.get()
    assert (run.kind, run.target, run.params["from"]) == ("promote", "env:prod", "test")


def test_rollback_and_a_plain_form_post_goes_to_the_run(signed_in, world):
    old = Release.objects.get(environment=world["dev"], status="superseded")
    response = signed_in.post("/board/dev/rollback/", {"component": SHOP,
                                                       "release": old.pk})
    run = Run.objects.get()
    assert response.status_code == 302 and response.url == f"/runs/{run.pk}/"
    assert (run.kind, run.params["release"]) == ("rollback", old.pk)


def test_health_is_loaded_apart_and_says_unreachable(signed_in, world, settings):
    started = time.monotonic()
    response = signed_in.get("/board/health/dev/")
    assert response.status_code == 200
    assert time.monotonic() - started < 12
    body = response.content.decode()
    assert "unreachable" in body and 'hx-swap-oob="true"' in body
    page = signed_in.get("/board/").content.decode()
    assert "unreachable since" in cell(page, "dev")


def test_refusals_on_pages_use_no_api_wording(signed_in, world):
    text = refusal(ConfirmationRequired(detail='prod is a prod-tier environment: repeat its '
                                        'name as "confirm": "prod" to go ahead'))
    assert text == ("Refused: prod is a prod-tier environment: repeat its name in the "
                    "confirmation field to go ahead.")
    text = refusal(NotConfigured(detail="environment dev has no cluster connection: set its "
                                 "kubeconfig (PUT /api/envs/dev/cluster/ or the environment "
                                 "page)"))
    assert "PUT" not in text and "(the environment page)" in text
    page = signed_in.post("/board/prod/deploy/", {"component": SHOP, "tag": "1.2",
                                                  "cell": "cell-prod-shop"},
                          HTTP_HX_REQUEST="true").content.decode()
    assert "repeat its name in the confirmation field" in page and "&quot;confirm" not in page
