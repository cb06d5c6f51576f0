"""Hostile input through the public API and pages: every case is refused with a clear 4xx in
the one error form ({"error", "detail", "fields"} naming the field), never a 500, and leaves no
trace (no row created or changed, no run queued). Where a value is legal but carries shell
syntax, it is accepted harmlessly and a marker file proves no shell ever ran it."""

from __future__ import annotations

import json
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from catalog.models import Entity, Location
from envs.backups.models import Backup, BackupSource
from envs.deploys.models import Release, Target
from envs.models import Environment
from envs.secrets.models import Secret
from portal.runs.models import Lock, Run

ROOT = Path(__file__).resolve().parent.parent

# --- helpers -------------------------------------------------------------------------------


def snapshot() -> dict:
    """Row counts of everything an input could create, and the environments' contents."""
    counts = {m.__name__: m.objects.count() for m in (
        Location, Entity, Run, Lock, Target, Release, Secret, BackupSource, Backup)}
    counts["environments"] = json.dumps(
        list(Environment.objects.order_by("pk").values()), default=str, sort_keys=True)
    return counts


def refused(response, field: str | None, status=(400,)):
    """The answer is a 4xx in the error form, naming ``field`` when given."""
    assert response.status_code in status, (response.status_code, response.content[:500])
    body = response.json()
    assert {"error", "detail", "fields"} <= set(body), body
    assert body["detail"], body
    if field is not None:
        assert field in json.dumps(body["fields"]), (field, body)
    return body


@pytest.fixture
def dev(db):
    return Environment.objects.create(name="dev", tier="dev")


@pytest.fixture
def marker():
    path = Path("/tmp") / f"harden-{uuid.uuid4().hex[:10]}"
    yield path
    assert not path.exists(), f"a shell ran: {path} was created"


SHELL = ["x;touch {m}", "$(touch {m})", "`touch {m}`", "x\ntouch {m}", "x|touch {m}",
         "x && touch {m}", "--upload-pack=touch {m}", "-oProxyCommand=touch {m}"]

# --- YAML ----------------------------------------------------------------------------------

PY_OBJECT = "!!python/object/apply:os.system ['touch {m}']\n"
HOSTILE_YAML = {
    "billion-laughs": (ROOT / "examples" / "billion-laughs.yaml").read_bytes(),
    "python-object": None,  # filled with the marker per test
    "python-name": b"a: !!python/name:os.system\n",
    "custom-tag": b"apiVersion: !Ref x\n",
    "merge-key": b"a: {b: 1}\nc:\n  <<: {b: 2}\n",
    "deep-nesting": b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "deep-mapping": "".join("  " * i + f"k{i}:\n" for i in range(200)).encode(),
    "many-documents": b"---\na: 1\n" * 1500,
    "binary-junk": bytes(range(256)) * 8,
    "non-utf8": b"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n"
                b"  name: \xff\xfe\n",
    "nul-bytes": b"kind: Component\x00\x00\n",
    "unterminated": b"a: [1, 2\nb: 'x\n",
    "duplicate-keys": b"kind: Component\nkind: API\n",
}


def hostile_yaml(name: str, marker: Path) -> bytes:
    if name == "python-object":
        return PY_OBJECT.format(m=marker).encode()
    return HOSTILE_YAML[name]


@pytest.mark.parametrize("name", sorted(HOSTILE_YAML))
def test_hostile_yaml_is_reported_invalid_and_nothing_is_stored(api, marker, name):
    """The validator's contract is an answer, not a refusal: 200 {"valid": false} with an
    error naming where; nothing is stored and no Python object is ever built."""
    before = snapshot()
    response = api.generic("POST", "/api/catalog/validate/", hostile_yaml(name, marker),
                           content_type="application/yaml")
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert body["valid"] is False and body["entities"] == []
    assert body["errors"] and all(e["message"] for e in body["errors"])
    assert snapshot() == before


def test_an_oversized_yaml_document_is_refused_with_413(api):
    big = b"a: " + b"x" * (1024 * 1024 + 10) + b"\n"
    before = snapshot()
    response = api.generic("POST", "/api/catalog/validate/", big, content_type="application/yaml")
    refused(response, None, status=(413,))
    assert snapshot() == before


@pytest.mark.parametrize("name", ["billion-laughs", "python-object", "deep-nesting",
                                  "non-utf8", "binary-junk"])
def test_a_location_of_hostile_files_imports_nothing(transactional_db, api, settings, tmp_path,
                                                     marker, name):
    """A local location is accepted (201) and read by its run, which stores no entity (and,
    its first import failing, takes the location away again)."""
    from portal.runs.engine import execute_run
    from portal.runs.models import Run

    root = tmp_path / "repo"
    root.mkdir()
    (root / "catalog-info.yaml").write_bytes(hostile_yaml(name, marker))
    settings.CATALOG_LOCAL_ROOTS = [tmp_path.resolve()]
    response = api.post("/api/catalog/locations/", {"target": str(root)}, format="json")
    assert response.status_code == 201, response.content
    assert execute_run(response.json()["id"]) == "failed"
    assert Run.objects.get().error
    assert not Location.objects.exists()
    assert not Entity.objects.exists()
    assert not Lock.objects.exists()


# --- oversized bodies ----------------------------------------------------------------------

BIG = {"name": "x" * (6 * 1024 * 1024)}
BIG_BODY_ENDPOINTS = [
    ("post", "/api/catalog/locations/"),
    ("post", "/api/envs/dev/secrets/"),
    ("post", "/api/envs/dev/backup-sources/"),
    ("post", "/api/envs/dev/deploys/"),
    ("post", "/api/envs/dev/targets/"),
    ("patch", "/api/envs/dev/terraform/"),
    ("put", "/api/envs/dev/variables/"),
    ("put", "/api/envs/dev/cluster/"),
    ("post", "/api/runs/"),
]


@pytest.mark.parametrize("method,path", BIG_BODY_ENDPOINTS)
def test_a_6mb_json_body_is_refused(api, dev, method, path):
    before = snapshot()
    response = getattr(api, method)(path, BIG, format="json")
    refused(response, None, status=(400, 413))
    assert snapshot() == before


def test_a_6mb_form_post_is_refused_on_a_page(signed_in, dev):
    before = snapshot()
    response = signed_in.post("/catalog/locations/", {"target": "x" * (6 * 1024 * 1024)})
    assert response.status_code in (400, 413), response.status_code
    assert snapshot() == before


# --- path traversal ------------------------------------------------------------------------


@pytest.fixture
def roots(settings, tmp_path):
    """An allowed root with a catalog file and a symlink that points outside it."""
    allowed = tmp_path / "allowed"
    (allowed / "app").mkdir(parents=True)
    (allowed / "app" / "catalog-info.yaml").write_text("kind: Component\n")
    (allowed / "escape").symlink_to("/etc")
    (allowed / "tf-escape").symlink_to(ROOT / "portal")
    settings.CATALOG_LOCAL_ROOTS = [allowed.resolve()]
    return allowed


def traversal_targets(allowed: Path) -> list[str]:
    return ["../../etc/passwd", "/etc/passwd", "/etc", f"{allowed}/../../../etc",
            f"{allowed}/%2e%2e/%2e%2e/etc", "%2e%2e/%2e%2e/etc/passwd", f"{allowed}/escape",
            f"{allowed}/escape/passwd", f"file://{allowed}/escape", "file:///etc/passwd",
            "~/.ssh", "/proc/self/environ", str(ROOT / "portal")]


def test_catalog_location_paths_outside_the_roots_are_refused(api, roots):
    before = snapshot()
    for target in traversal_targets(roots):
        refused(api.post("/api/catalog/locations/", {"target": target}, format="json"),
                "target")
    assert snapshot() == before


@pytest.mark.parametrize("path", ["../../etc", "a/../../..", "..", "~/x", "..\\..\\x",
                                  "apps/../../../etc/passwd"])
def test_catalog_git_paths_that_leave_the_repository_are_refused(api, settings, path):
    settings.CATALOG_ALLOWED_HOSTS = ["github.com"]
    before = snapshot()
    response = api.post("/api/catalog/locations/", {
        "target": "https://github.com/org/repo.git", "ref": "main", "path": path}, format="json")
    refused(response, "path")
    assert snapshot() == before


def test_terraform_directories_outside_the_roots_are_refused(api, dev, roots):
    before = snapshot()
    for directory in ("../../etc", "/etc", "/", f"{roots}/escape", f"{roots}/tf-escape",
                      str(ROOT / "portal"), "terraform/environments/../../portal",
                      f"{roots}/../.."):
        response = api.patch("/api/envs/dev/terraform/", {"directory": directory},
                             format="json")
        refused(response, "directory")
    assert snapshot() == before
    # Inside an allowed root (or the repo's terraform/), it is accepted.
    ok = api.patch("/api/envs/dev/terraform/", {"directory": str(roots / "app")},
                   format="json")
    assert ok.status_code == 200, ok.content
    ok = api.patch("/api/envs/dev/terraform/",
                   {"directory": "terraform/environments/local"}, format="json")
    assert ok.status_code == 200, ok.content


@pytest.mark.parametrize("git_path", ["../../etc", "/etc/passwd/..", "a/../../..", "..",
                                      "~/x", "..\\x"])
def test_terraform_git_paths_that_leave_the_repository_are_refused(api, dev, roots, git_path):
    before = snapshot()
    response = api.patch("/api/envs/dev/terraform/", {"git_path": git_path}, format="json")
    refused(response, "git_path")
    assert snapshot() == before


NAMES = ["../../etc/passwd", "..", "a/b", "x;id", "$(id)", "`id`", "a b", "-rf", "x\ny",
         "UPPER", "é", "名前", "a" * 300, "", "\x00"]


@pytest.mark.parametrize("name", NAMES, ids=range(len(NAMES)))
def test_backup_source_names_are_refused(api, dev, name):
    before = snapshot()
    response = api.post("/api/envs/dev/backup-sources/", {
        "name": name, "database_url": "postgresql://u@127.0.0.1:5432/db"}, format="json")
    refused(response, "name")
    assert snapshot() == before


SECRET_NAMES = [n for n in NAMES if n != "UPPER"] + ["lower", "1ABC"]


@pytest.mark.parametrize("name", SECRET_NAMES, ids=range(len(SECRET_NAMES)))
def test_secret_names_are_refused(api, dev, name):
    before = snapshot()
    response = api.post("/api/envs/dev/secrets/", {"name": name, "value": "v"}, format="json")
    refused(response, "name")
    assert snapshot() == before


@pytest.mark.parametrize("field,value", [
    ("secret", "../../x"), ("secret", "a/b"), ("secret", "x;id"), ("namespace", "../kube-system"),
    ("namespace", "a.b"), ("key", "../x"), ("key", "a b"), ("key", "$(id)")])
def test_secret_kubernetes_placements_are_refused(api, dev, field, value):
    placement = {"secret": "app-env", field: value}
    before = snapshot()
    response = api.post("/api/envs/dev/secrets/", {"name": "DB_PASSWORD", "value": "v",
                                                   "kubernetes": placement}, format="json")
    refused(response, field)
    assert snapshot() == before


TARGET_FIELDS = [("deployment", "../../api/v1/secrets"), ("deployment", "a/b"),
                 ("deployment", "x;id"), ("deployment", "UPPER"), ("deployment", "a" * 254),
                 ("container", "$(id)"), ("container", "a b"), ("container", "../x"),
                 ("kuberoapp", "../x"), ("kuberoapp", "`id`"), ("namespace", "../x"),
                 ("component", "../../x"), ("component", "api:default/x"), ("component", "")]


@pytest.mark.parametrize("field,value", TARGET_FIELDS)
def test_deploy_target_names_are_refused(api, dev, field, value):
    body = {"component": "shop", "deployment": "shop", "container": "app"}
    if field == "kuberoapp":
        body = {"component": "shop"}
    body[field] = value
    before = snapshot()
    refused(api.post("/api/envs/dev/targets/", body, format="json"), field)
    assert snapshot() == before


@pytest.mark.parametrize("path", [
    "/api/envs/..%2f..%2fetc/", "/api/envs/%2e%2e/secrets/", "/api/envs/dev/secrets/..%2fx/",
    "/api/catalog/entities/component/..%2f../x/", "/api/envs/dev/plans/1/",
    "/api/envs/%00/"])
def test_traversal_or_nul_in_url_paths_is_a_4xx_in_the_error_form(api, dev, path):
    refused(api.get(path), None, status=(400, 404))
    refused(api.get("/api/catalog/entities/", {"q": "a\x00b"}), None)


# --- SSRF ----------------------------------------------------------------------------------

PRIVATE = ["127.0.0.1", "localhost", "[::1]", "169.254.169.254", "10.0.0.1", "0.0.0.0",
           "2130706433", "0x7f000001", "017700000001", "127.1", "[::ffff:127.0.0.1]",
           "192.168.1.1", "100.100.100.200", "[fd00:ec2::254]", "172.16.0.1"]
OTHER_SCHEMES = ["http://github.com/org/repo.git", "file:///etc/passwd", "ext::sh -c id",
                 "ssh://git@github.com/org/repo.git", "git://github.com/org/repo.git",
                 "git@github.com:org/repo.git", "ftp://github.com/x.yaml",
                 "https://user:pw@github.com/org/repo.git", "//github.com/x"]


def _allow_private_hosts(settings):
    """Put every private host on the allowlist: the address check alone must refuse them."""
    settings.CATALOG_ALLOWED_HOSTS = [h.strip("[]") for h in PRIVATE] + ["github.com"]


@pytest.mark.parametrize("host", PRIVATE)
@pytest.mark.parametrize("path", ["/catalog-info.yaml", "/org/repo.git"])
def test_catalog_sources_on_private_addresses_are_refused(api, settings, host, path):
    _allow_private_hosts(settings)
    before = snapshot()
    body = refused(api.post("/api/catalog/locations/", {"target": f"https://{host}{path}"},
                            format="json"), "target")
    assert "refused" in json.dumps(body["fields"]) or "cannot resolve" in body["detail"]
    assert snapshot() == before


@pytest.mark.parametrize("target", OTHER_SCHEMES)
def test_catalog_sources_on_other_schemes_are_refused(api, settings, target):
    _allow_private_hosts(settings)
    before = snapshot()
    refused(api.post("/api/catalog/locations/", {"target": target}, format="json"), "target")
    assert snapshot() == before


@pytest.mark.parametrize("host", PRIVATE)
def test_terraform_git_sources_on_private_addresses_are_refused(api, dev, settings, host):
    _allow_private_hosts(settings)
    before = snapshot()
    refused(api.patch("/api/envs/dev/terraform/", {"git_url": f"https://{host}/org/infra.git"},
                      format="json"), "git_url")
    assert snapshot() == before


@pytest.mark.parametrize("url", OTHER_SCHEMES)
def test_terraform_git_sources_on_other_schemes_are_refused(api, dev, settings, url):
    _allow_private_hosts(settings)
    before = snapshot()
    refused(api.patch("/api/envs/dev/terraform/", {"git_url": url}, format="json"), "git_url")
    assert snapshot() == before


@pytest.mark.parametrize("url", [f"https://{h}/org/repo.git" for h in PRIVATE if h not in (
    "10.0.0.1", "192.168.1.1", "172.16.0.1")] + OTHER_SCHEMES[:-2] + ["-uhelp", "/srv/repo"])
def test_backup_git_sources_on_loopback_metadata_or_other_schemes_are_refused(api, dev, url):
    before = snapshot()
    refused(api.post("/api/envs/dev/backup-sources/", {
        "name": "code", "kind": "git", "repo_url": url}, format="json"), "repo_url")
    assert snapshot() == before


class _Redirector(BaseHTTPRequestHandler):
    hits: list = []

    def do_GET(self):  # noqa: N802
        self.hits.append(self.path)
        self.send_response(302)
        self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def redirector():
    _Redirector.hits = []
    server = HTTPServer(("127.0.0.1", 0), _Redirector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", _Redirector.hits
    server.shutdown()
    server.server_close()


def test_a_redirect_to_a_private_address_is_never_fetched(api, dev, settings, redirector):
    """Only https is fetched at all; a local server that would redirect to the metadata
    address is never even contacted, through any of the fields that take a URL."""
    address, hits = redirector
    settings.CATALOG_ALLOWED_HOSTS = ["127.0.0.1", "github.com"]
    before = snapshot()
    for target in (f"http://{address}/catalog-info.yaml", f"http://{address}/org/repo.git",
                   f"https://{address}/catalog-info.yaml", f"https://{address}/org/repo.git"):
        refused(api.post("/api/catalog/locations/", {"target": target}, format="json"),
                "target")
        refused(api.patch("/api/envs/dev/terraform/", {"git_url": target}, format="json"),
                "git_url")
        refused(api.post("/api/envs/dev/backup-sources/", {
            "name": "code", "kind": "git", "repo_url": target}, format="json"), "repo_url")
    assert snapshot() == before
    assert hits == []


# --- shell metacharacters and option injection ---------------------------------------------


@pytest.mark.parametrize("template", SHELL)
def test_shell_syntax_in_catalog_refs_is_refused(api, settings, marker, template):
    settings.CATALOG_ALLOWED_HOSTS = ["github.com"]
    before = snapshot()
    refused(api.post("/api/catalog/locations/", {
        "target": "https://github.com/org/repo.git", "ref": template.format(m=marker)},
        format="json"), "ref")
    assert snapshot() == before


@pytest.mark.parametrize("template", SHELL)
def test_shell_syntax_in_terraform_git_refs_and_engines_is_refused(api, dev, marker, template):
    before = snapshot()
    value = template.format(m=marker)
    refused(api.patch("/api/envs/dev/terraform/", {"git_ref": value}, format="json"),
            "git_ref")
    refused(api.patch("/api/envs/dev/terraform/", {"engine": value}, format="json"), "engine")
    assert snapshot() == before


IMAGES = ["nginx", "nginx:latest;id", "nginx:$(id)", "nginx:`id`", "nginx:1\nid",
          "--upload-pack=x:1", "-oProxyCommand=x:1", "NGINX:1", "ghcr.io/Acme/shop:1",
          "nginx:" + "a" * 200, "a" * 600 + ":1", "ngïnx:1", "nginx:1\t;id", "nginx@sha256:abc",
          "nginx:", ":1", "", "ghcr.io//shop:1", "http://ghcr.io/shop:1",
          "shop:1@sha256:" + "g" * 64]


@pytest.mark.parametrize("image", IMAGES, ids=range(len(IMAGES)))
def test_invalid_image_references_are_refused(api, dev, image):
    before = snapshot()
    refused(api.post("/api/envs/dev/deploys/", {"component": "shop", "image": image},
                     format="json"), "image")
    assert snapshot() == before


@pytest.mark.parametrize("template", SHELL)
def test_shell_syntax_in_backup_urls_is_refused(api, dev, marker, template):
    before = snapshot()
    value = template.format(m=marker)
    refused(api.post("/api/envs/dev/backup-sources/", {
        "name": "code", "kind": "git", "repo_url": value}, format="json"), "repo_url")
    refused(api.post("/api/envs/dev/backup-sources/", {
        "name": "db", "database_url": value}, format="json"), "database_url")
    assert snapshot() == before


def _exec_kubeconfig(marker: Path, user: dict) -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://203.0.113.10:6443"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": user}]})


@pytest.mark.parametrize("kind", ["exec", "auth-provider", "tokenFile", "client-certificate"])
def test_a_kubeconfig_that_would_run_a_command_or_read_a_file_is_refused(api, dev, marker,
                                                                         kind):
    """The official client runs a kubeconfig's exec plugin while loading it: the portal
    must refuse such a kubeconfig before it is ever loaded (web process or worker)."""
    command = {"command": "sh", "args": ["-c", f"touch {marker}"],
               "apiVersion": "client.authentication.k8s.io/v1beta1"}
    user = {
        "exec": {"exec": command},
        "auth-provider": {"auth-provider": {"name": "gcp", "config": {
            "cmd-path": "/bin/sh", "cmd-args": f"-c 'touch {marker}'"}}},
        "tokenFile": {"tokenFile": "/proc/self/environ"},
        "client-certificate": {"client-certificate": "/etc/shadow",
                               "client-key": "/etc/shadow"},
    }[kind]
    before = snapshot()
    refused(api.put("/api/envs/dev/cluster/", {"kubeconfig": _exec_kubeconfig(marker, user)},
                    format="json"), "kubeconfig")
    assert snapshot() == before


# --- values that are legal yet carry shell syntax: accepted, never run by a shell ----------


@pytest.fixture(scope="module")
def s3srv():
    from tests.fakes.s3server import S3TestServer

    with S3TestServer() as srv:
        yield srv


@pytest.mark.parametrize("template", ["x$(touch {m})", "x;touch {m}", "x`touch {m}`"])
def test_a_database_named_with_shell_syntax_is_backed_up_without_a_shell(
        transactional_db, api, settings, s3srv, marker, template):
    """pg_dump and psql get the name in argv/conninfo, never through a shell: the backup of a
    database named ``x$(touch /tmp/…)`` succeeds and the marker is never created."""
    import psycopg
    from psycopg import sql

    from envs.backups import bucket
    from portal.runs.engine import execute_run

    s3srv.reset()
    settings.BACKUP_BUCKET = "portal-backups"
    settings.S3_ENDPOINT_URL = s3srv.endpoint_url
    settings.AWS_ACCESS_KEY_ID, settings.AWS_SECRET_ACCESS_KEY = "test", "test-secret"
    settings.AWS_DEFAULT_REGION = "us-east-1"
    bucket.store().ensure_bucket()
    name = template.format(m=marker)
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(admin.rsplit("/", 1)[0] + "/" + _quote(name),
                             autocommit=True) as conn:
            conn.execute("CREATE TABLE t (v text); INSERT INTO t VALUES ('a'), ('b')")
        Environment.objects.create(name="dev", tier="dev")
        response = api.post("/api/envs/dev/backup-sources/", {
            "name": "weird", "database_url": f"postgresql://postgres@127.0.0.1:5432/{_quote(name)}"},
            format="json")
        assert response.status_code == 201, response.content
        started = api.post("/api/envs/dev/backups/", {"source": "weird"}, format="json")
        assert started.status_code == 201, started.content
        execute_run(started.json()["id"])
        run = Run.objects.get(pk=started.json()["id"])
        assert run.status == "succeeded", run.error
        assert Backup.objects.get().row_counts.get("public.t") == 2, Backup.objects.get().row_counts
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def test_no_app_code_starts_a_shell():
    """Every child process is started from an argv list: no shell=True, os.system or popen."""
    offenders = []
    for folder in ("portal", "catalog", "envs"):
        for path in (ROOT / folder).rglob("*.py"):
            if "tests" in path.parts or "testing" in path.parts:
                continue
            text = path.read_text()
            for needle in ("shell=True", "os.system(", "os.popen(", "commands.getoutput",
                           "pty.spawn("):
                if needle in text:
                    offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert offenders == []


# --- pages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path,data", [
    ("/catalog/locations/", {"target": "/etc/passwd"}),
    ("/catalog/locations/", {"target": "https://169.254.169.254/catalog-info.yaml"}),
    ("/catalog/locations/", {"target": "ext::sh -c id"}),
    ("/envs/dev/deploys/deploy/", {"component": "shop", "image": "nginx:$(id)"}),
    ("/envs/dev/deploys/targets/", {"component": "shop", "deployment": "../x",
                                    "container": "app"}),
    ("/envs/dev/backup-sources/add/", {"name": "../../etc", "database_url": "postgresql://x/y"}),
    ("/envs/dev/backup-sources/add/", {"name": "code", "kind": "git",
                                       "repo_url": "ext::sh -c id"}),
    ("/envs/dev/secrets/add/", {"name": "$(id)", "value": "v"}),
    ("/envs/dev/deploys/cluster/", {"kubeconfig": "users: [{user: {exec: {command: id}}}]\n"
                                                  "clusters: [{cluster: {server: x}}]"}),
])
def test_pages_refuse_hostile_forms_without_side_effects(signed_in, dev, path, data):
    before = snapshot()
    response = signed_in.post(path, data, follow=True)
    assert response.status_code in (200, 400), response.status_code
    assert response.redirect_chain == [] or response.redirect_chain[-1][1] == 302
    text = response.content.decode()
    assert "Refused" in text or "refused" in text or response.status_code == 400, text[:2000]
    assert snapshot() == before


def test_the_corpus_exercises_every_module_it_names():
    """Guard against a silently empty parametrization."""
    assert len(HOSTILE_YAML) >= 10 and len(SHELL) >= 8 and len(PRIVATE) >= 12
    assert os.path.exists(ROOT / "examples" / "billion-laughs.yaml")
