"""Catalog benchmark: import N entities, re-import them unchanged, and time the list API.

    .venv/bin/python bench/catalog.py [--n 10000] [--requests 200] [--keep]

Generates N entities (groups, users, domains, systems, APIs, resources, components with
owners, systems, provided/consumed APIs and dependencies) in ~20-entity catalog files under
a temporary directory, then prints: first import time and entities/s, unchanged re-import
time, list API p50/p95 latency and the query count per page. Uses a temporary SQLite data
dir (the embedded default) unless DATABASE_URL is set (then PORTAL_ENCRYPTION_KEYS and
PORTAL_SECRET_KEY must be set too, and the database must be empty or disposable).
Then a cold unchanged re-import (the per-process parse cache emptied, as in a worker that
has not read the location yet) and a refresh after one file changed (only that file's
entities may be written). Targets on a 2-core machine at N = 10,000 (issue 17): first
import <= 5 s, unchanged re-import <= 2 s (warm and cold), one file changed <= 0.5 s,
list p95 <= 20 ms, query count constant in N.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PER_FILE = 20


def generate(directory: Path, n: int, seed: int = 7) -> int:
    """Write catalog files holding exactly n entities; returns the file count."""
    rnd = random.Random(seed)
    groups = [f"team-{i}" for i in range(max(2, n // 100))]
    users = [f"user-{i}" for i in range(max(2, n // 50))]
    domains = [f"domain-{i}" for i in range(max(1, n // 1000))]
    systems = [f"system-{i}" for i in range(max(1, n // 40))]
    apis = [f"api-{i}" for i in range(max(1, n // 10))]
    resources = [f"db-{i}" for i in range(max(1, n // 10))]
    fixed = len(groups) + len(users) + len(domains) + len(systems) + len(apis) + len(resources)
    components = [f"svc-{i}" for i in range(max(1, n - fixed - 2))]
    docs: list[str] = []
    head = "apiVersion: backstage.io/v1alpha1\n"
    for i, g in enumerate(groups):
        parent = f"  parent: {groups[0]}\n" if i else ""
        docs.append(f"{head}kind: Group\nmetadata:\n  name: {g}\nspec:\n  type: team\n"
                    f"{parent}  children: []\n")
    for u in users:
        docs.append(f"{head}kind: User\nmetadata:\n  name: {u}\nspec:\n"
                    f"  profile:\n    displayName: {u.title()}\n"
                    f"  memberOf: [{rnd.choice(groups)}]\n")
    for d in domains:
        docs.append(f"{head}kind: Domain\nmetadata:\n  name: {d}\nspec:\n"
                    f"  owner: {rnd.choice(groups)}\n")
    for s in systems:
        docs.append(f"{head}kind: System\nmetadata:\n  name: {s}\n  tags: [bench]\nspec:\n"
                    f"  owner: {rnd.choice(groups)}\n  domain: {rnd.choice(domains)}\n")
    for a in apis:
        docs.append(f"{head}kind: API\nmetadata:\n  name: {a}\nspec:\n  type: openapi\n"
                    f"  lifecycle: production\n  owner: {rnd.choice(groups)}\n"
                    f"  system: {rnd.choice(systems)}\n  definition: openapi 3.0.0\n")
    for r in resources:
        docs.append(f"{head}kind: Resource\nmetadata:\n  name: {r}\nspec:\n  type: database\n"
                    f"  owner: {rnd.choice(groups)}\n  system: {rnd.choice(systems)}\n")
    for i, c in enumerate(components):
        deps = [f"resource:{rnd.choice(resources)}"]
        if i:
            deps.append(f"component:{components[rnd.randrange(i)]}")
        docs.append(
            f"{head}kind: Component\nmetadata:\n  name: {c}\n  title: Service {i}\n"
            f"  description: Generated service number {i} for the catalog benchmark\n"
            f"  tags: [python, {rnd.choice(['web', 'batch', 'api'])}]\n"
            f"  annotations:\n    github.com/project-slug: example-org/{c}\n"
            f"    eaas.portal/environments: dev, prod\n"
            f"spec:\n  type: {rnd.choice(['service', 'website', 'library'])}\n"
            f"  lifecycle: {rnd.choice(['production', 'experimental'])}\n"
            f"  owner: {rnd.choice(groups)}\n  system: {rnd.choice(systems)}\n"
            f"  providesApis: [{rnd.choice(apis)}]\n  consumesApis: [{rnd.choice(apis)}]\n"
            f"  dependsOn: [{', '.join(deps)}]\n")
    # Environments first: a small N must not cut them (components name them).
    docs = [f"{head}kind: Environment\nmetadata:\n  name: {env}\nspec:\n  type: {env}\n"
            for env in ("dev", "prod")] + docs
    docs = docs[:n]
    files = 0
    for start in range(0, len(docs), PER_FILE):
        folder = directory / f"part-{files:04d}"
        folder.mkdir(parents=True)
        (folder / "catalog-info.yaml").write_text("---\n".join(docs[start:start + PER_FILE]))
        files += 1
    return files


def setup_django(data_dir: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["PORTAL_DATA_DIR"] = str(data_dir)
    os.environ["PORTAL_EXTRA_HOSTS"] = "testserver"
    os.environ.setdefault("PORTAL_LOG_LEVEL", "WARNING")
    # bench/ itself must not be on the path: a script there could shadow a library.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the temp directory")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    try:
        source = tmp / "catalog"
        started = time.monotonic()
        files = generate(source, args.n)
        print(f"generated {args.n} entities in {files} files in "
              f"{time.monotonic() - started:.1f} s ({source})")
        setup_django(tmp / "data")
        return run(source, args)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def run(source: Path, args) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from catalog.descriptor.loader import clear_cache
    from catalog.importer import import_location
    from catalog.models import Entity, Location, Relation
    from portal.auth.models import ApiToken, owner_user

    print(f"database: {connection.vendor}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    location = Location.objects.create(kind="local", target=str(source), trusted=True)
    started, cpu = time.monotonic(), time.process_time()
    first = import_location(location)
    first_s, first_cpu = time.monotonic() - started, time.process_time() - cpu
    if not first.ok:
        for issue in first.errors[:10]:
            print("error:", issue)
        return 1
    relations = Relation.objects.count()
    print(f"first import:     {first_s:6.2f} s  ({first.entities / first_s:,.0f} entities/s; "
          f"{first.entities} entities, {relations} relations; {first_cpu:.2f} s CPU here)")
    started, cpu = time.monotonic(), time.process_time()
    again = import_location(Location.objects.get(pk=location.pk))
    again_s, again_cpu = time.monotonic() - started, time.process_time() - cpu
    print(f"unchanged import: {again_s:6.2f} s  (unchanged {again.unchanged}, "
          f"written {again.created + again.updated}; {again_cpu:.2f} s CPU here)")
    clear_cache()  # as in a worker process that has not read this location yet
    started = time.monotonic()
    cold = import_location(Location.objects.get(pk=location.pk))
    cold_s = time.monotonic() - started
    print(f"unchanged, fresh: {cold_s:6.2f} s  (a new worker process: memory cache empty, "
          f"parses read back from the data dir; written {cold.created + cold.updated})")
    clear_cache()
    shutil.rmtree(Path(os.environ["PORTAL_DATA_DIR"]) / "cache" / "catalog-parse",
                  ignore_errors=True)
    started = time.monotonic()
    import_location(Location.objects.get(pk=location.pk))
    bare_s = time.monotonic() - started
    print(f"unchanged, bare:  {bare_s:6.2f} s  (no cache at all: every file parsed and "
          f"validated again; for reference)")
    # One file changes: only its entities may be written, and quickly.
    changed_file = sorted(source.glob("part-*/catalog-info.yaml"))[len(list(
        source.glob("part-*"))) // 2]
    text = changed_file.read_text()
    in_file = text.count("\nkind: ")
    changed_file.write_text(text.replace("metadata:\n  name: ", "metadata:\n  labels: "
                                         "{bench: changed}\n  name: "))
    started = time.monotonic()
    one = import_location(Location.objects.get(pk=location.pk))
    one_s = time.monotonic() - started
    written = one.created + one.updated
    print(f"one file changed: {one_s:6.2f} s  (written {written} of the file's {in_file} "
          f"entities, unchanged {one.unchanged}; relations +{one.relations_added} "
          f"-{one.relations_removed})")

    _token, plaintext = ApiToken.issue(owner_user(), "bench", "read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    client.get("/api/catalog/entities/")  # warm up (first token use, caches)
    pages = max(1, Entity.objects.count() // 50)
    variants = [{}, {"kind": "component"}, {"kind": "component", "lifecycle": "production"},
                {"tag": "web"}, {"owner": "team-1"}, {"q": "service 12"},
                {"system": "system-3"}, {"orphaned": "false", "kind": "api"}]
    timings, queries = [], set()
    rnd = random.Random(1)
    for i in range(args.requests):
        params = dict(variants[i % len(variants)])
        if not params:
            params["page"] = str(rnd.randint(1, pages))
        with CaptureQueriesContext(connection) as captured:
            t0 = time.perf_counter()
            response = client.get("/api/catalog/entities/", params)
            timings.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            print("list failed:", response.status_code, response.content[:200])
            return 1
        queries.add(len(captured))
    p50, p95 = statistics.median(timings), percentile(timings, 95)
    print(f"list API:         p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(timings)} "
          f"requests (50 per page); queries per page: {sorted(queries)}")
    ok = (first_s <= 5 and again_s <= 2 and cold_s <= 2 and one_s <= 0.5
          and written == in_file and p95 <= 20 and len(queries) == 1)
    print(f"targets (first import <= 5 s, unchanged re-import <= 2 s warm and cold, one file "
          f"changed <= 0.5 s writing only its entities, list p95 <= 20 ms, constant queries): "
          f"{'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
