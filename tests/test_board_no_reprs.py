"""No page shows a Python repr ({'env': 'local'}, None, True): a scenario with runs, audit
events with details, releases, secrets, Terraform outputs and drift, then every main page."""

from __future__ import annotations

import html
import re

import pytest

from envs.deploys.models import Release, Target
from envs.models import Environment
from envs.provisioning.models import DriftStatus, StateSnapshot
from envs.secrets.models import Secret
from portal.audit.models import record
from portal.runs.models import Run

pytestmark = pytest.mark.django_db
REPR = re.compile(r"\{'|\['|\bNone\b|\bTrue\b|\bFalse\b")


def visible(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(page)


@pytest.fixture
def scenario(owner):
    dev = Environment.objects.create(name="dev", tier="dev", tf_variables={"size": 2})
    Environment.objects.create(name="prod", tier="prod")
    Run.objects.create(kind="selfcheck", target=dev.target, status="succeeded", actor="owner",
                       params={"env": "local", "flag": True, "none": None},
                       result={"ok": True, "checks": None})
    Run.objects.create(kind="plan", target=dev.target, status="failed", actor="owner",
                       params={"env": "dev"}, error="boom")
    record("deploys.cluster.set", target=dev.target, server=None, forced=True,
           nested={"a": None})
    Target.objects.create(environment=dev, component="component:default/shop",
                          deployment="shop", container="app")
    Release.objects.create(environment=dev, component="component:default/shop",
                           image="ghcr.io/a/shop:1", actor="owner", workload="x",
                           env={"plain": {"A": "1"}})
    Secret.objects.create(environment=dev, name="API_KEY")
    StateSnapshot.objects.create(environment=dev, serial=1, outputs={
        "namespace": {"value": "dev", "sensitive": False},
        "list": {"value": ["a", None], "sensitive": False}})
    DriftStatus.objects.create(environment=dev, status="drifted",
                               drifted=[{"address": "a.b", "reason": None, "actions": []}])
    return dev


PAGES = ["/", "/board/", "/envs/", "/envs/dev/", "/envs/dev/overview/",
         "/envs/dev/infrastructure/", "/envs/dev/deploys/", "/envs/dev/secrets/",
         "/envs/dev/backups/", "/envs/dev/runs/", "/runs/", "/audit/", "/promotions/"]


@pytest.mark.parametrize("path", PAGES)
def test_no_python_repr_on_the_page(signed_in, scenario, path):
    response = signed_in.get(path)
    assert response.status_code == 200
    text = visible(response.content.decode())
    found = [text[max(0, m.start() - 40):m.end() + 40] for m in REPR.finditer(text)]
    assert not found, found


def test_no_python_repr_on_run_pages(signed_in, scenario):
    for run in Run.objects.all():
        text = visible(signed_in.get(f"/runs/{run.pk}/").content.decode())
        assert not REPR.search(text), REPR.findall(text)
