"""A day with the portal, in Chromium, the way the owner uses it: every step goes through
real pages (links, buttons, forms) served by live_server, with a real worker process
executing the runs against real test servers (fake GitHub, Kubernetes API test server,
moto S3, PostgreSQL, the embedded Terraform).

Set-up that has no page (registering the environment from its Terraform folder, pointing
its source at a temporary copy, seeding the test servers and the database to back up) is
done directly, once, before the browser starts. The refused-user page is covered by
tests/test_browser_signin.py.

Screenshots land in test-output/screenshots/journey-*.png for a reviewer.
"""

from __future__ import annotations

import base64
import shutil
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3
import psycopg
import pytest
from playwright.sync_api import Page, expect

from envs.backups.models import Backup
from envs.deploys.models import Release
from envs.sync import sync
from tests.fakes.kubeserver import KubeTestServer, deployment
from tests.fakes.s3server import S3TestServer

from .conftest import ROOT, screenshot_dir, shot
from .test_browser_signin import github  # noqa: F401 (the FakeGitHub fixture, reused)

pytestmark = pytest.mark.browser

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
KUBE_TOKEN = f"kube-token-journey-{uuid.uuid4().hex[:12]}"
RUN_TIMEOUT = 60_000  # ms: the longest a single run may take here (a Terraform apply)
KUBE_ID = "backstage.io/kubernetes-id"
APP_LABEL = "app.kubernetes.io/name"  # the api component's kubernetes-label-selector


# --- helpers -----------------------------------------------------------------------------
def nav(page: Page, label: str) -> None:
    page.locator("header.top nav").get_by_role("link", name=label, exact=True).click()
    page.wait_for_load_state()


def run_ends(page: Page, status: str = "succeeded") -> int:
    """On a run page: wait until the live status says `status`; return the run id."""
    page.wait_for_url("**/runs/*/")
    expect(page.locator("#run-status-badge")).to_have_text(status, timeout=RUN_TIMEOUT)
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def log_text(page: Page) -> str:
    return page.locator("#log").inner_text()


def region_shot(page: Page, name: str, top: str, bottom: str | None = None) -> Path:
    """A screenshot of the part of a freshly loaded page from `top` to `bottom` (exclusive)
    or to the end: one section of the long environment page."""
    start = page.locator(top).bounding_box()
    end = page.locator(bottom).bounding_box() if bottom else None
    height = (end["y"] if end else page.locator("main").bounding_box()["height"]) - start["y"]
    path = screenshot_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, clip={
        "x": 0, "y": max(start["y"] - 8, 0), "width": 1280, "height": height + 8})
    return path


def open_env(page: Page, tab: str, name: str = "local") -> None:
    """Environments → the environment (its Overview) → one of its tabs."""
    nav(page, "Environments")
    page.locator("table").get_by_role("link", name=name, exact=True).click()
    expect(page.locator("h1")).to_contain_text(name)
    expect(page.locator("#env-tabs a[aria-current=page]")).to_have_text("Overview")
    page.locator("#env-tabs").get_by_role("link", name=tab, exact=True).click()
    expect(page.locator("#env-tabs a[aria-current=page]")).to_have_text(tab)


def sql(dbname: str, text: str) -> list:
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{dbname}",
                         autocommit=True) as conn:
        cur = conn.execute(text)
        return cur.fetchall() if cur.description else []


# --- the test servers and data the journey works with --------------------------------------
@pytest.fixture
def kube():
    """A cluster with the api component's Deployment (found through its catalog labels),
    reading its configuration from the Secret api-env."""
    with KubeTestServer(token=KUBE_TOKEN) as srv:
        srv.store.apply("namespaces", {"metadata": {"name": "local"}})
        srv.store.apply("secrets", {"metadata": {"name": "api-env", "namespace": "local"},
                                    "data": {"LOG_LEVEL": base64.b64encode(b"info").decode()}})
        srv.store.apply("deployments", deployment(
            "myproject-api", namespace="local", replicas=2,
            labels={KUBE_ID: "myproject-api", APP_LABEL: "myproject-api"},
            containers=[{"name": "api", "image": "ghcr.io/example-org/myproject-api:1.0.0",
                         "envFrom": [{"secretRef": {"name": "api-env"}}]}]))
        srv.controller.set_mode("myproject-api", "complete", step=0.2)
        yield srv


@pytest.fixture
def s3(settings):
    """The backup bucket on moto, for the web process (settings) and the worker (env)."""
    with S3TestServer() as srv:
        bucket = f"journey-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=srv.endpoint_url, aws_access_key_id="test",
                     aws_secret_access_key="test-secret",
                     region_name="us-east-1").create_bucket(Bucket=bucket)
        settings.BACKUP_BUCKET = bucket
        settings.S3_ENDPOINT_URL = srv.endpoint_url
        settings.AWS_ACCESS_KEY_ID = "test"
        settings.AWS_SECRET_ACCESS_KEY = "test-secret"
        settings.AWS_DEFAULT_REGION = "us-east-1"
        yield {"PORTAL_BACKUP_BUCKET": bucket, "PORTAL_S3_ENDPOINT_URL": srv.endpoint_url,
               "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def appdb():
    """A real database of the app: 1200 orders and 40 customers. Dropped afterwards with
    every copy a restore leaves (the scratch and the renamed pre-restore database)."""
    name = f"journey_{uuid.uuid4().hex[:10]}"
    sql("postgres", f'CREATE DATABASE "{name}"')
    sql(name, "CREATE TABLE customers (id serial PRIMARY KEY, name text);"
              "INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 40) g;"
              "CREATE TABLE orders (id serial PRIMARY KEY, customer int REFERENCES customers,"
              " amount numeric(10, 2));"
              "INSERT INTO orders (customer, amount) SELECT 1 + g % 40, g / 7.0"
              " FROM generate_series(1, 1200) g;")
    yield name
    for (db,) in sql("postgres", f"SELECT datname FROM pg_database WHERE datname LIKE '{name}%'"):
        sql("postgres", f'DROP DATABASE "{db}" WITH (FORCE)')


def counts(dbname: str) -> tuple[int, int]:
    return sql(dbname, "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM orders)")[0]


@pytest.fixture
def local_env(tmp_path, api, settings):
    """`manage.py envs_sync` over a folder holding a copy of the local stack, then its
    source pointed at that copy (the one setting without a form). The copy must be under
    PORTAL_CATALOG_LOCAL_ROOTS (web process: settings; worker: the returned env)."""
    roots = [(ROOT / "examples").resolve(), tmp_path.resolve()]
    settings.CATALOG_LOCAL_ROOTS = roots
    root = tmp_path / "environments"
    shutil.copytree(ROOT / "terraform" / "environments" / "local", root / "local",
                    ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "*.tfplan"))
    assert sync(root)[0] == ["local"]
    response = api.patch("/api/envs/local/terraform/", {"directory": str(root / "local")},
                         format="json")
    assert response.status_code == 200, response.content
    return {"PORTAL_CATALOG_LOCAL_ROOTS": ",".join(str(r) for r in roots)}


# --- the journey -------------------------------------------------------------------------
def test_a_day_with_the_portal(page, github, local_env, kube, s3, appdb,  # noqa: F811
                               start_worker):
    (screenshot_dir() / "journey-failure.png").unlink(missing_ok=True)
    start_worker(**s3, **local_env)
    page.on("dialog", lambda dialog: dialog.accept())  # the data-confirm prompts: "OK"
    secrets = [KUBE_TOKEN]  # values that must never reach a page
    seen = []  # the HTML of every page worth checking for them

    def keep():
        seen.append(page.content())

    try:
        sign_in_with_github(page, github)
        import_the_catalog(page)
        keep()
        provision(page, secrets, keep)
        deploy(page, kube, keep)
        rotate_a_secret(page, kube, secrets, keep)
        back_up_and_restore(page, appdb, keep)
        read_the_audit_log(page, keep)
        tokens_and_sign_out(page)
    except Exception:
        shot(page, "journey-failure")
        raise
    for html in seen:
        for value in secrets:
            assert value not in html


def sign_in_with_github(page: Page, github) -> None:  # noqa: F811
    with github({"id": 4242, "login": "the-owner", "email": "o@example.com"}) as gh:
        page.goto(f"{page.base}/")
        page.wait_for_url("**/signin/**")
        page.get_by_role("button", name="Sign in with GitHub").click()
        page.wait_for_url(f"{gh.url}/login/oauth/authorize**")
        page.click("#authorize")
        page.wait_for_url(f"{page.base}/")
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator(".card h3", has_text="local")).to_have_count(1)
    shot(page, "journey-dashboard-empty")


def import_the_catalog(page: Page) -> None:
    nav(page, "Catalog")
    expect(page.locator(".catalog-kinds")).to_contain_text("The catalog is empty")
    page.get_by_role("link", name="Locations (0)").click()
    page.fill("input[name=target]", str(ROOT / "examples" / "app-repo"))
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview")).to_contain_text("23 created")
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_selector("#log .ln")  # the live log of the import run
    shot(page, "journey-run-catalog-import")
    run_ends(page)
    assert "created 23, updated 0" in log_text(page)
    page.goto(f"{page.base}/catalog/locations/")
    expect(page.locator("table tbody tr")).to_have_count(1)
    expect(page.locator("table tbody tr td").nth(3)).to_have_text("23")
    shot(page, "journey-catalog-locations")

    nav(page, "Catalog")
    expect(page.locator("main")).to_contain_text("5 entities")  # Components first
    page.click("#all-kinds")
    expect(page.locator("main")).to_contain_text("23 entities")
    shot(page, "journey-catalog-list")
    page.get_by_role("link", name="My Project API", exact=True).click()
    expect(page.locator("h1")).to_contain_text("My Project API")
    graph = page.locator("svg.catalog-graph")
    expect(graph).to_be_visible()
    expect(graph.locator("a[href='/catalog/group/default/platform-team/']")).to_have_count(1)
    expect(graph.locator("text.edge-label", has_text="dependsOn").first).to_be_visible()
    expect(page.locator(".catalog-keys")).to_contain_text("DATABASE_URL")
    shot(page, "journey-catalog-entity")
    # The graph's nodes are links: follow one to its entity.
    graph.locator("a[href='/catalog/api/default/myproject-api/']").click()
    page.wait_for_url("**/catalog/api/default/myproject-api/")
    expect(page.locator("h1")).to_contain_text("myproject-api")


def provision(page: Page, secrets: list, keep) -> None:
    token = f"tf-token-{uuid.uuid4().hex}"
    secrets.append(token)
    open_env(page, "Infrastructure")
    page.fill("[name='variables.environment']", "local")
    page.fill("[name='variables.zone']", "journey.test")
    page.fill("input[name=secret_name]", "api_token")
    page.fill("input[name=secret_value]", token)
    page.get_by_role("button", name="Save variables").click()
    expect(page.locator(".tf-secret")).to_contain_text("api_token")
    keep()

    page.click("#start-plan")
    page.wait_for_selector("#log .ln")
    shot(page, "journey-run-live")
    plan_id = run_ends(page, "planned")
    assert "Plan: 8 to add, 0 to change, 0 to destroy." in log_text(page)
    keep()
    open_env(page, "Infrastructure")
    page.get_by_role("link", name=f"Plan run #{plan_id}").click()
    page.wait_for_url(f"**/plans/{plan_id}/")
    expect(page.locator("#plan-status")).to_have_text("planned")
    expect(page.locator(".tf-counts")).to_contain_text("8 to create")
    expect(page.locator("table.tf-plan").first).to_contain_text("terraform_data.namespace")
    shot(page, "journey-plan-review")
    keep()
    page.click("#approve")
    page.wait_for_url("**/runs/*/")
    page.wait_for_selector("#log .ln")
    apply_id = run_ends(page)
    assert apply_id != plan_id and "Apply complete!" in log_text(page)
    shot(page, "journey-run-apply")
    keep()

    open_env(page, "Infrastructure")
    outputs = page.locator("#tf-outputs")
    expect(outputs.locator("tr", has_text="namespace")).to_contain_text("local")
    expect(outputs.locator("tr", has_text="api_token_configured")).to_contain_text("true")
    expect(outputs.locator("tr", has_text="dns_records")).to_contain_text("local.journey.test")
    keep()
    page.click("#start-plan")
    run_ends(page)
    assert "No changes: the infrastructure matches the configuration." in log_text(page)


def deploy(page: Page, kube, keep) -> None:
    open_env(page, "Deploys")
    page.locator("details.deploys-form summary").click()
    page.fill("textarea[name=kubeconfig]", kube.kubeconfig())
    page.get_by_role("button", name="Save", exact=True).click()
    section = page.locator("h2#deploys ~ .table-wrap").first
    expect(section).to_contain_text("local/myproject-api")
    expect(section).to_contain_text("ghcr.io/example-org/myproject-api:1.0.0")

    form = page.locator("form.deploys-form", has_text="Deploy an image")
    form.locator("input[name=component]").fill("api")
    form.locator("input[name=image]").fill("ghcr.io/example-org/myproject-api:1.1.0")
    form.locator("input[name=reason]").fill("journey: new search endpoint")
    form.get_by_role("button", name="Deploy").click()
    page.wait_for_selector("#log .ln")
    run_ends(page)
    log = log_text(page)
    assert "image after: ghcr.io/example-org/myproject-api:1.1.0" in log
    assert "rollout complete" in log
    keep()
    live = kube.store.get("deployments", "local", "myproject-api")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.1.0")

    open_env(page, "Deploys")
    workloads = page.locator("h2#deploys ~ .table-wrap").first
    expect(workloads).to_contain_text("ghcr.io/example-org/myproject-api:1.1.0")
    releases = page.locator("h3", has_text="Release history").locator("+ .table-wrap")
    expect(releases.locator("tbody tr")).to_have_count(1)
    expect(releases).to_contain_text("journey: new search endpoint")
    expect(releases.locator(".badge", has_text="live")).to_have_count(1)
    assert Release.objects.get().image == "ghcr.io/example-org/myproject-api:1.1.0"
    region_shot(page, "journey-env-deploys", "h2#deploys")
    keep()


def rotate_a_secret(page: Page, kube, secrets: list, keep) -> None:
    first = f"first-secret-{uuid.uuid4().hex}"
    secrets.append(first)
    open_env(page, "Secrets")
    page.locator("details", has_text="Add a secret").locator("summary").click()
    form = page.locator("form.secrets-form")
    form.locator("input[name=name]").fill("SECRET_KEY")
    form.locator("input[name=value]").fill(first)
    form.locator("input[name=k8s_secret]").fill("api-env")
    form.get_by_role("button", name="Add").click()
    run_ends(page)  # the value is written to the cluster by a run
    keep()

    def in_cluster() -> str:
        data = kube.store.get("secrets", "local", "api-env")["data"]
        return base64.b64decode(data["SECRET_KEY"]).decode()

    assert in_cluster() == first
    open_env(page, "Secrets")
    row = page.locator("#secret-SECRET_KEY")
    expect(row).to_contain_text("v1")
    keep()
    row.get_by_role("button", name="Rotate").click()
    page.wait_for_selector("#log .ln")
    run_ends(page)
    assert "myproject-api" in log_text(page)  # the workload reading it was rolled
    keep()
    rotated = in_cluster()
    secrets.append(rotated)
    assert rotated != first and len(rotated) >= 32

    open_env(page, "Secrets")
    expect(page.locator("#secret-SECRET_KEY")).to_contain_text("v2")
    expect(page.locator("#secret-SECRET_KEY")).to_contain_text("rotated")
    # The completeness check counts the new secret for the component at once.
    config = page.locator("table.secrets-config tbody tr", has_text="component:default/api")
    expect(config).to_contain_text("secrets: SECRET_KEY")
    expect(config.locator(".badge", has_text="SECRET_KEY")).to_have_count(0)
    region_shot(page, "journey-env-secrets", "h2#secrets")
    keep()


def back_up_and_restore(page: Page, appdb: str, keep) -> None:
    assert counts(appdb) == (40, 1200)
    url = f"postgresql://postgres@127.0.0.1:5432/{appdb}"
    open_env(page, "Backups")
    page.locator("details.backups-add summary").click()
    form = page.locator("details.backups-add form")
    form.locator("input[name=name]").fill("app-db")
    form.locator("input[name=database_url]").fill(url)
    form.locator("input[name=admin_url]").fill(PG_ADMIN)
    form.get_by_role("button", name="Add").click()
    sources = page.locator("h2#backups + .panel table")
    expect(sources.locator("tbody tr", has_text="app-db")).to_have_count(1)
    keep()

    sources.locator("tr", has_text="app-db").get_by_role("button", name="Back up now").click()
    page.wait_for_selector("#log .ln")
    run_ends(page)
    keep()
    backup = Backup.objects.get()
    assert backup.verification == "verified"
    assert backup.row_counts == {"public.customers": 40, "public.orders": 1200}

    # Something goes wrong in production after the backup...
    sql(appdb, "DELETE FROM orders WHERE id > 200; DELETE FROM customers WHERE id > 30"
               " AND id NOT IN (SELECT customer FROM orders)")
    damaged = counts(appdb)
    assert damaged[1] == 200

    open_env(page, "Backups")
    table = page.locator("h3", has_text="Backups (newest first)").locator("+ .table-wrap")
    row = table.locator("tbody tr").first
    expect(row.locator(".badge")).to_have_text("verified")
    expect(row).to_contain_text("1240 rows in 2 tables")
    region_shot(page, "journey-env-backups", "h2#backups")
    row.get_by_role("button", name="Restore").click()
    page.wait_for_selector("#log .ln")
    restore_id = run_ends(page)
    keep()
    assert counts(appdb) == (40, 1200)
    kept = [r[0] for r in sql("postgres", "SELECT datname FROM pg_database WHERE datname "
                                          f"LIKE '{appdb}_pre_restore_%'")]
    assert len(kept) == 1 and kept[0] in log_text(page)
    assert counts(kept[0]) == damaged
    shot(page, "journey-run-restore")
    open_env(page, "Backups")
    shot(page, "journey-environment")
    assert url not in page.content()
    assert page.locator("h3", has_text="Backups (newest first)").count() == 1
    page.goto(f"{page.base}/runs/{restore_id}/")
    expect(page.locator("#run-status-badge")).to_have_text("succeeded")


def read_the_audit_log(page: Page, keep) -> None:
    nav(page, "Audit")
    expect(page.locator("h1")).to_have_text("Audit log")
    page.select_option("select[name=action]", "signin")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("github:4242")
    page.select_option("select[name=action]", "")
    page.fill("input[name=target]", "env:local")
    page.get_by_role("button", name="Filter").click()
    expect(rows.first).to_contain_text("env:local")
    assert rows.count() >= 8  # plans, apply, deploy, secret runs, restore...
    expect(page.locator("main")).to_contain_text("secret.rotate")
    shot(page, "journey-audit")
    keep()
    nav(page, "Dashboard")
    expect(page.locator(".timeline rect").first).to_be_visible()
    shot(page, "journey-dashboard")
    keep()


def tokens_and_sign_out(page: Page) -> None:
    nav(page, "Settings")
    page.fill("input[name=name]", "journey-ci")
    page.fill("input[name=scope]", "read")  # a text field now: read, write or deploy:<env>
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text().strip()
    assert len(token) >= 32
    assert api_status(page, token) == 200
    shot(page, "journey-tokens-created")
    nav(page, "Settings")  # shown once: never again
    assert token not in page.content()
    row = page.locator("table tbody tr", has_text="journey-ci")
    expect(row.locator(".badge")).to_have_text("active")
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator("table tbody tr", has_text="journey-ci").locator(".badge")) \
        .to_have_text("revoked")
    shot(page, "journey-tokens")
    assert api_status(page, token) == 401

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin/")
    page.goto(f"{page.base}/envs/local/")
    page.wait_for_url("**/signin/?next=/envs/local/")


def api_status(page: Page, token: str) -> int:
    """The token used the way a script would (no browser session)."""
    request = urllib.request.Request(f"{page.base}/api/runs/",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code

