"""Catalog fixtures: a writable copy of the example app repo under an allowed local root,
and helpers to add and import locations."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP_REPO = ROOT / "examples" / "app-repo"
BROKEN = ROOT / "examples" / "broken"
BILLION_LAUGHS = ROOT / "examples" / "billion-laughs.yaml"

COMPONENT = """apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {name}
spec:
  type: service
  lifecycle: production
  owner: {owner}
"""


@pytest.fixture
def repo(tmp_path, settings):
    """A copy of examples/app-repo under tmp_path, which is made an allowed local root."""
    dst = tmp_path / "app-repo"
    shutil.copytree(APP_REPO, dst)
    settings.CATALOG_LOCAL_ROOTS = [tmp_path.resolve()]
    return dst


def add_local(path):
    """A local location (saved, not imported) for path."""
    from catalog.models import Location

    return Location.objects.create(kind="local", target=str(Path(path).resolve()))


def reimport(location):
    from catalog.importer import import_location
    from catalog.models import Location

    lines = []
    outcome = import_location(Location.objects.get(pk=location.pk), log=lines.append)
    outcome.log = lines
    return outcome


def git(*args, cwd=None) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org",
                           "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def bare_repo(tmp_path):
    """A bare git repository holding the example app repo on branch main."""
    work = tmp_path / "work"
    shutil.copytree(APP_REPO, work)
    git("init", "-q", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "catalog", cwd=work)
    bare = tmp_path / "app-repo.git"
    git("clone", "-q", "--bare", str(work), str(bare))
    return bare, work


# The project's shared fixtures (owner, signed-in client, token clients) live in
# tests/conftest.py, which pytest applies to tests/ only: re-export them here.
from tests.conftest import (  # noqa: E402,F401
    api,
    chromium,
    owner,
    page,
    read_api,
    signed_in,
    signed_in_page,
    wait_for,
)
