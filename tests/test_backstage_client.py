"""Issue 17, checked against Backstage's own code run in node (tests/backstage_client/):

* the real ``@backstage/catalog-client`` drives the portal's Backstage-compatible routes on
  a live server (filters, fields, order, pagination, cursors, by-refs, by-uid, by-name,
  ancestry, facets, locations, and errors parsed by the client from Backstage's shape);
* ``@backstage/catalog-model``'s policies and kind validators plus the built-in processor's
  relation table decide a corpus of realistic and hostile documents; the portal must agree
  on every document (accepted or refused) and on every relation, except the deliberate
  differences, which the portal reports in a message naming Backstage.

``npm ci`` runs once into tests/backstage_client/node_modules (git-ignored) when missing.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

HARNESS = Path(__file__).resolve().parent / "backstage_client"
ROOT = HARNESS.parents[1]


def _node_ready() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the Backstage client harness")
    if not (HARNESS / "node_modules" / "@backstage" / "catalog-client").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=HARNESS, check=True, timeout=300)


def _node(script: str, *, stdin: str = "", env: dict | None = None) -> object:
    _node_ready()
    done = subprocess.run(["node", script], cwd=HARNESS, input=stdin, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# --- the real client against a live server ------------------------------------------------

@pytest.fixture
def catalog_on_live_server(live_server, transactional_db, owner):
    from catalog.importer import import_location
    from catalog.models import Location
    from portal.auth.models import ApiToken

    location = Location.objects.create(kind="local",
                                       target=str(ROOT / "examples" / "app-repo"))
    assert import_location(location).ok
    _token, plaintext = ApiToken.issue(owner, "backstage-client", "read")
    return live_server.url, plaintext, location


def test_the_real_backstage_client_reads_the_portal_catalog(catalog_on_live_server):
    from catalog.models import Entity

    url, token, location = catalog_on_live_server
    out = _node("client.js", env={"PORTAL_URL": url, "PORTAL_TOKEN": token})
    assert isinstance(out, dict)
    all_names = sorted(Entity.objects.values_list("name", flat=True), key=str.lower)
    components = sorted(Entity.objects.filter(kind="component").values_list("name", flat=True))
    systems = sorted(Entity.objects.filter(kind="system").values_list("name", flat=True))

    assert sorted(out["components"]) == components
    assert out["libraries"] and set(out["libraries"]) < set(components)
    assert sorted(out["componentsOrSystems"]) == sorted(components + systems)
    assert sorted(out["kindList"]) == sorted(components + systems)
    assert set(components) <= set(out["withOwner"])
    assert [e["metadata"]["name"] for e in out["projected"]] == sorted(
        all_names, key=str.lower, reverse=True)
    assert all(set(e) == {"kind", "metadata"} for e in out["projected"])
    assert out["page"] == all_names[2:7]

    assert out["totalItems"] == len(all_names)
    assert [n for page in out["queryPages"] for n in page] == all_names
    assert all(len(page) <= 7 for page in out["queryPages"])
    assert "web" in out["fullText"]
    assert sorted(out["streamed"], key=str.lower) == all_names

    assert out["byRefs"] == ["web", None]
    web = out["web"]
    assert web["kind"] == "Component" and web["metadata"]["namespace"] == "default"
    assert web["metadata"]["uid"] and web["metadata"]["etag"]
    assert any(r["type"] == "ownedBy" for r in web["relations"])
    assert out["missing"] is True
    assert out["byUid"] == "web"
    assert out["ancestry"]["rootEntityRef"] == "component:default/web"
    assert out["ancestry"]["items"][0]["entity"]["metadata"]["name"] == "web"
    kinds = out["facets"]["facets"]["kind"]
    assert kinds == [{"value": "Component", "count": len(components)}]
    assert out["locations"] == [{"id": str(location.pk), "type": "file",
                                 "target": location.target}]
    assert out["location"] == out["locations"][0]
    assert out["missingLocation"] is True
    # Errors: the client parses Backstage's error shape into its ResponseError.
    assert out["badToken"]["name"] == "ResponseError"
    assert out["badToken"]["statusCode"] in (401, 403)
    assert out["badToken"]["cause"] in ("AuthenticationError", "NotAllowedError")
    assert out["badToken"]["body"]["response"]["statusCode"] == out["badToken"]["statusCode"]
    assert out["badOrder"]["statusCode"] == 400 and out["badOrder"]["cause"] == "InputError"


# --- Backstage's own validation as the oracle ---------------------------------------------

BASE: dict[str, Any] = {
    "apiVersion": "backstage.io/v1alpha1",
    "kind": "Component",
    "metadata": {"name": "svc"},
    "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"},
}
SPECS: dict[str, dict[str, Any]] = {
    "Component": {**BASE["spec"], "system": "shop", "providesApis": ["orders"],
                  "consumesApis": ["default/pay"], "dependsOn": ["resource:db"],
                  "dependencyOf": ["component:web"], "subcomponentOf": "core"},
    "API": {"type": "openapi", "lifecycle": "production", "owner": "team-a",
            "definition": "openapi: 3.0.0"},
    "Resource": {"type": "database", "owner": "user:jdoe", "dependsOn": ["resource:net"],
                 "system": "shop"},
    "System": {"owner": "team-a", "domain": "commerce"},
    "Domain": {"owner": "team-a", "subdomainOf": "all"},
    "Group": {"type": "team", "children": ["sub"], "parent": "org", "members": ["jdoe"]},
    "User": {"memberOf": ["team-a"]},
    "Location": {"targets": ["./a.yaml"]},
}
SCALARS = [None, True, 0, 7, -1, 1.5, "", " ", "x", "team-a", "team-a ", "a--b", "a__b",
           "Team-A", "a/b/c", "user:jdoe", "default/x", "group:ns/x", "component:", ":x",
           "-a", "a-", "a" * 64, "c++", "team:infra", "http://[fd00::1/status",
           "http://h:65536/", "http://exa mple.com/", "https://example.com/p?q#f",
           "mailto:a@b", "//x", "ftp://[::1]:21/", "http://1.2.3.256/", "http://ex\u00e4m.de/",
           "backstage.io/v1alpha1", "backstage.io/v1beta1", "backstage.io/v2", "Component",
           "component", "Widget", "API", "x.io/y", "Ex.io/y", "a--b.io/k"]
PATHS = [
    ("kind",), ("apiVersion",), ("metadata", "name"), ("metadata", "namespace"),
    ("metadata", "title"), ("metadata", "description"), ("metadata", "uid"),
    ("metadata", "etag"), ("metadata", "tags"), ("metadata", "tags", 0),
    ("metadata", "labels"), ("metadata", "labels", "k"), ("metadata", "labels", "KEY"),
    ("metadata", "annotations"), ("metadata", "annotations", "x.io/a"),
    ("metadata", "links"), ("metadata", "links", 0, "url"), ("metadata", "links", 0, "title"),
    ("metadata", "links", 0, "icon"), ("metadata", "links", 0, "type"), ("spec",),
    ("spec", "type"), ("spec", "lifecycle"), ("spec", "owner"), ("spec", "system"),
    ("spec", "subcomponentOf"), ("spec", "providesApis"), ("spec", "providesApis", 0),
    ("spec", "consumesApis", 0), ("spec", "dependsOn"), ("spec", "dependsOn", 0),
    ("spec", "dependencyOf", 0), ("spec", "memberOf", 0), ("spec", "children", 0),
    ("spec", "parent"), ("spec", "members", 0), ("spec", "domain"), ("spec", "subdomainOf"),
    ("spec", "definition"), ("spec", "profile"), ("spec", "profile", "email"),
    ("spec", "target"), ("spec", "targets"), ("spec", "presence"), ("relations",), ("x",),
]


def _value(rng: random.Random, depth: int = 0) -> object:
    roll = rng.random()
    if depth < 2 and roll < 0.12:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 2))]
    if depth < 2 and roll < 0.18:
        return {rng.choice(["a", "url", "x.io/k"]): _value(rng, depth + 1)}
    return rng.choice(SCALARS)


def _set(doc: dict, path: tuple, value: object) -> None:
    node: object = doc
    for key, nxt in zip(path[:-1], path[1:], strict=False):
        if isinstance(node, dict):
            child = node.get(key)
            if not isinstance(child, dict | list):
                node[key] = child = [] if isinstance(nxt, int) else {}
            node = child
        elif isinstance(node, list) and isinstance(key, int):
            while len(node) <= key:
                node.append({} if not isinstance(nxt, int) else [])
            node = node[key]
        else:
            return
    last = path[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list) and isinstance(last, int):
        while len(node) <= last:
            node.append(None)
        node[last] = value


def _corpus(n: int, seed: int = 17) -> list[dict]:
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        kind = rng.choice(list(SPECS))
        doc = json.loads(json.dumps({**BASE, "kind": kind, "spec": SPECS[kind]}))
        for _edit in range(rng.randint(0, 3)):
            _set(doc, rng.choice(PATHS), _value(rng))
        docs.append(doc)
    return docs


def _portal(doc: dict):
    from catalog.descriptor import validate_text

    return validate_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


def _deliberate(result) -> bool:
    """The portal reports a deliberate difference: its message names Backstage."""
    return any("Backstage" in i.message for i in result.errors + result.warnings
               if "PORTAL_CATALOG_ALLOW_UNKNOWN_KINDS" not in i.message
               and "EntityMeta" not in i.message and "did you mean" not in i.message
               and "Backstage parse it" not in i.message
               and "Backstage trims" not in i.message
               and "accepts it too" not in i.message)


def test_the_portal_decides_as_backstage_on_a_corpus():
    from catalog.tests.test_descriptor_backstage import ACCEPTED, REFUSED

    fixed = [yaml.safe_load(t) for t in list(REFUSED.values()) + list(ACCEPTED.values())]
    fixed = [d for d in fixed if d.get("kind") != "Template"]  # the scaffolder's processor
    corpus = fixed + _corpus(1500)
    verdicts = _node("oracle.js", stdin=json.dumps(corpus))
    assert isinstance(verdicts, list) and len(verdicts) == len(corpus)
    agree = relations = 0
    deliberate = []
    disagree = []
    for doc, verdict in zip(corpus, verdicts, strict=True):
        result = _portal(doc)
        if _deliberate(result):
            deliberate.append(doc)
            continue
        if result.ok != verdict["ok"]:
            disagree.append((doc, verdict.get("error"), [str(e) for e in result.errors]))
            continue
        agree += 1
        if result.ok:
            mine = {tuple(r) for r in result.relations}
            theirs = {tuple(r) for r in verdict["relations"]}
            assert mine == theirs, (doc, mine ^ theirs)
            relations += len(theirs)
    assert not disagree, json.dumps(disagree[:5], indent=1, default=str)
    print(f"agree {agree}/{len(corpus)} documents, {relations} relations; "
          f"{len(deliberate)} deliberate differences")
    assert agree > 1300 and relations > 2500
    assert len(deliberate) < len(corpus) // 5


# --- the Backstage-compatible operations, fuzzed from the OpenAPI schema -------------------

def test_the_backstage_routes_survive_fuzzing(live_server, transactional_db):
    from catalog.importer import import_location
    from catalog.models import Location
    from tests.test_api_fuzz import fuzzer, operations
    from tests.test_api_fuzz import schema as schema_fixture

    location = Location.objects.create(kind="local", target=str(ROOT / "examples" / "app-repo"))
    assert import_location(location).ok
    loaded, auth = schema_fixture.__wrapped__(live_server, transactional_db)
    ours = [op for op in operations(loaded)
            if op.path.startswith("/api/catalog/") and not op.path.endswith("/")]
    assert len(ours) == 9  # GET: 8 routes; POST: by-refs
    failures = []
    for operation in ours:
        try:
            fuzzer(operation, auth)()
        except Exception as exc:  # every operation's failure, not just the first
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
