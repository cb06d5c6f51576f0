"""manage.py catalog_import: exit status, error lines, idempotence, dry run, git sources."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.models import Entity, Location
from portal.audit.models import AuditEvent
from portal.runs.models import Lock, Run

from .conftest import APP_REPO, BROKEN, git

pytestmark = pytest.mark.django_db(transaction=True)  # the run's watcher needs commits


def cli(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("catalog_import", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return code, out.getvalue(), err.getvalue()


def test_it_imports_and_is_idempotent():
    code, out, _err = cli(str(APP_REPO))
    assert code == 0, _err
    assert "23 entities (created 23" in out
    code, out, _err = cli("examples/app-repo")  # relative path: the same location
    assert code == 0 and "unchanged 23" in out
    assert Location.objects.count() == 1 and Entity.objects.count() == 23
    location = Location.objects.get()
    assert location.trusted and location.status == "ok"
    runs = Run.objects.filter(kind="catalog_import").order_by("pk")
    assert [(r.status, r.target, r.lock_key) for r in runs] == [
        ("succeeded", f"location:{location.pk}", f"location:{location.pk}")] * 2
    assert runs[1].params["refresh"] is True
    assert runs[0].result["created"] == 23
    assert not Lock.objects.exists()
    assert AuditEvent.objects.filter(action="run.start", run=runs[0]).exists()
    lines = list(runs[0].lines.values_list("text", flat=True))
    assert any(line.startswith("read 8 file(s)") for line in lines)


def test_errors_are_printed_one_per_line_and_the_exit_status_is_1():
    code, _out, err = cli(str(BROKEN / "missing-owner.yaml"))
    assert code == 1
    assert "missing-owner.yaml:5:1: component:default/no-owner spec.owner: spec.owner is " \
           "required for kind Component" in err.splitlines()
    code, _out, err = cli(str(BROKEN / "bad-yaml.yaml"))
    assert code == 1
    assert re.search(r"^bad-yaml\.yaml:\d+:\d+: YAML syntax error", err, re.M)
    assert Run.objects.filter(status="failed").count() == 2
    assert not Entity.objects.exists()


def test_a_dry_run_stores_nothing():
    code, out, _err = cli(str(APP_REPO), "--dry-run")
    assert code == 0 and "23 valid entities" in out
    code, _out, err = cli(str(BROKEN / "wrong-apiversion.yaml"), "--dry-run")
    assert code == 1 and "apiVersion" in err
    assert not Location.objects.exists() and not Entity.objects.exists()
    assert not Run.objects.exists()


def test_a_missing_path_and_refused_schemes_exit_non_zero(tmp_path):
    assert cli(str(tmp_path / "nope"))[0] == 1
    code, _out, err = cli("ext::sh -c touch% /tmp/pwned")
    assert code != 0 and "refused" in err
    code, _out, err = cli("http://github.com/org/repo")
    assert code != 0 and "refused" in err


def test_a_git_repository_is_fetched_at_a_ref_and_refreshed(bare_repo):
    bare, work = bare_repo
    code, out, err = cli(str(bare), "--ref", "main")
    assert code == 0, err
    location = Location.objects.get()
    first = git("rev-parse", "HEAD", cwd=work)
    assert (location.kind, location.ref, location.commit) == ("git", "main", first)
    assert Entity.objects.count() == 23
    # A new commit on the branch: the next import sees it.
    api = work / "apps/api/catalog-info.yaml"
    api.write_text(api.read_text().replace("lifecycle: production", "lifecycle: deprecated", 1))
    git("commit", "-q", "-am", "deprecate", cwd=work)
    git("push", "-q", str(bare), "HEAD:main", cwd=work)
    code, out, err = cli(str(bare), "--ref", "main")
    assert code == 0 and "updated 1" in out, err
    location.refresh_from_db()
    assert location.commit == git("rev-parse", "HEAD", cwd=work) != first
    assert Entity.objects.get(ref="component:default/api").lifecycle == "deprecated"
    # --path limits the import to one directory of the repository.
    code, out, err = cli(str(bare), "--ref", "main", "--path", "apps/web")
    assert code == 1 and "duplicate entity component:default/web" in err
    code, _out, err = cli(str(bare), "--ref", "no-such-branch")
    assert code == 1 and "git fetch failed" in err
    code, _out, err = cli(str(bare), "--ref", "--upload-pack=touch /tmp/x")
    assert code == 1 and "invalid ref" in err
