"""The environment page is an overview: each long list shows its newest rows and a link that
lists them all (``?show=<list>``), and the newest rows are the ones shown."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from envs.backups.models import Backup, BackupSource, Drill, Verification
from envs.deploys.models import Release
from envs.models import Environment
from portal.runs.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def dev():
    env = Environment.objects.create(name="dev", tier="dev")
    now = timezone.now()
    Run.objects.bulk_create([
        Run(kind="selfcheck", target=env.target, status="succeeded", actor="owner",
            params={"n": i}, created_at=now - timedelta(minutes=i)) for i in range(40)])
    for i in range(25):  # created_at is set on save: rel-24 is the newest
        Release.objects.create(environment=env, component="component:default/app",
                               workload="deployment dev/app container app",
                               image=f"ghcr.io/o/app:rel-{i:02d}", actor="owner",
                               status=Release.Status.SUPERSEDED)
    source = BackupSource.objects.create(environment=env, name="db",
                                         database_url="postgres://u:p@127.0.0.1/app")
    backups = Backup.objects.bulk_create([
        Backup(source=source, key=f"backups/dev/db/{i}", sha256="0" * 64, size=10 + i,
               verification=Verification.VERIFIED, created_at=now - timedelta(hours=i))
        for i in range(22)])
    Drill.objects.bulk_create([
        Drill(source=source, passed=True, detail=f"drill-marker-{i:02d}",
              created_at=now - timedelta(days=i)) for i in range(12)])
    return env, source, backups


def shown(page: str, pattern: str) -> list[str]:
    return re.findall(pattern, page)


def test_long_lists_show_their_newest_rows_and_a_link_to_all(signed_in, dev):
    env, _source, _backups = dev
    page = signed_in.get("/envs/dev/all/").content.decode()
    newest_runs = list(Run.objects.filter(target=env.target).order_by("-created_at")[:15])
    run_links = set(shown(page, r'href="/runs/(\d+)/"'))
    assert {str(r.pk) for r in newest_runs} <= run_links
    oldest = Run.objects.filter(target=env.target).order_by("created_at").first()
    assert str(oldest.pk) not in run_links
    assert f'href="/runs/?target={env.target.replace(":", "%3A")}"' in page

    assert sorted(set(shown(page, r"app:rel-(\d\d)"))) == [f"{i:02d}" for i in range(15, 25)]
    assert 'href="?show=releases#releases"' in page
    assert len(shown(page, r'action="/backups/\d+/restore/"')) == 10
    assert 'href="?show=backups#backup-list"' in page
    assert sorted(shown(page, r"drill-marker-(\d\d)")) == [f"{i:02d}" for i in range(5)]
    assert 'href="?show=drills#drills"' in page


@pytest.mark.parametrize("name, pattern, total", [
    ("releases", r"app:rel-(\d\d)", 25),
    ("backups", r'action="/backups/(\d+)/restore/"', 22),
    ("drills", r"drill-marker-(\d\d)", 12),
])
def test_show_lists_every_row_of_that_list_only(signed_in, dev, name, pattern, total):
    page = signed_in.get(f"/envs/dev/all/?show={name}").content.decode()
    assert len(set(shown(page, pattern))) == total
    assert f"?show={name}#" not in page  # nothing more to show
    others = {"releases", "backups", "drills"} - {name}
    assert all(f"?show={other}#" in page for other in others)  # the others stay short


def test_a_short_list_has_no_link(signed_in):
    Environment.objects.create(name="quiet", tier="dev")
    page = signed_in.get("/envs/quiet/all/").content.decode()
    assert "?show=" not in page
    assert "All runs of quiet" not in page


def test_each_secret_has_its_own_page_with_versions_and_forms_never_the_value(signed_in):
    from envs.secrets.models import Secret, SecretVersion

    env = Environment.objects.create(name="prod", tier="prod")
    secret = Secret.objects.create(environment=env, name="API_TOKEN", version=2,
                                   value="plain-value-never-shown-4242", set_by="owner",
                                   set_at=timezone.now())
    SecretVersion.objects.create(secret=secret, version=1, how="create", by="owner")
    SecretVersion.objects.create(secret=secret, version=2, how="rotate", by="scheduler")
    page = signed_in.get("/envs/prod/all/").content.decode()
    links = set(shown(page, r'href="(/envs/prod/secrets/API_TOKEN/)"'))
    assert links == {"/envs/prod/secrets/API_TOKEN/"}
    detail = signed_in.get("/envs/prod/secrets/API_TOKEN/")
    assert detail.status_code == 200
    body = detail.content.decode()
    assert "plain-value-never-shown-4242" not in body
    assert "v1" in body and "v2" in body and "scheduler" in body
    for action in ("set", "rotate", "delete"):
        assert f'action="/envs/prod/secrets/API_TOKEN/{action}/"' in body
    assert body.count('name="confirm"') == 3  # prod: every form asks for the name
    assert signed_in.get("/envs/prod/secrets/NOPE/").status_code == 404
