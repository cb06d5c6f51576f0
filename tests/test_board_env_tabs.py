"""The environment page in tabs, each with its own URL; the Overview leads with what needs
the owner; sections land in a tab by their template folder; every page renders from the
database in < 300 ms with a cluster address that accepts and never answers."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from envs.deploys.models import Release, Target
from envs.models import Environment
from envs.provisioning.models import DriftStatus
from envs.secrets.models import Secret
from envs.sections import ENV_SECTIONS, TABS, Section
from portal.runs.models import Run

from .test_board_page import kubeconfig, silent_cluster  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db
PAGES = ["/envs/dev/", *[f"/envs/dev/{slug}/" for slug, _ in TABS]]


@pytest.fixture
def dev(silent_cluster):  # noqa: F811 - the fixture
    env = Environment.objects.create(name="dev", tier="dev",
                                     kubeconfig=kubeconfig(silent_cluster))
    Target.objects.create(environment=env, component="component:default/shop",
                          deployment="shop", container="app")
    Release.objects.create(environment=env, component="component:default/shop",
                           image="ghcr.io/acme/shop:7", actor="owner", workload="x")
    return env


def test_a_section_lands_in_the_tab_of_its_template_folder():
    tabs = {s.template: s.in_tab for s in ENV_SECTIONS}
    assert tabs["deploys/_env_section.html"] == "deploys"
    assert tabs["secrets/_env_section.html"] == "secrets"
    assert tabs["backups/_env_section.html"] == "backups"
    assert tabs["provisioning/_env_status.html"] == "infrastructure"
    assert Section(1, "newfeature/_x.html", dict).in_tab == "overview"
    assert Section(1, "newfeature/_x.html", dict, tab="deploys").in_tab == "deploys"


def test_each_tab_has_its_url_and_shows_its_sections_only(signed_in, dev):
    for slug, label in TABS:
        page = signed_in.get(f"/envs/dev/{slug}/").content.decode()
        assert f'<a href="/envs/dev/{slug}/" class="active" aria-current="page">{label}</a>' \
            in page
    deploys = signed_in.get("/envs/dev/deploys/").content.decode()
    assert 'id="deploys"' in deploys and 'id="runs"' not in deploys
    assert 'id="deploys"' not in signed_in.get("/envs/dev/secrets/").content.decode()
    assert 'id="runs"' in signed_in.get("/envs/dev/runs/").content.decode()
    assert signed_in.get("/envs/dev/nosuchtab/").status_code == 404
    # the features' own routes under envs/<name>/ are not taken by the tabs
    assert 'id="env-tabs"' not in signed_in.get("/envs/dev/plan/").content.decode()


def test_the_overview_leads_with_a_plan_awaiting_approval(signed_in, dev):
    quiet = signed_in.get("/envs/dev/overview/").content.decode()
    assert 'id="attention-none"' in quiet
    run = Run.objects.create(kind="plan", target=dev.target, status="planned", actor="owner")
    page = signed_in.get("/envs/dev/overview/").content.decode()
    assert page.index('id="attention"') < page.index("Description")
    assert f'href="/runs/{run.pk}/" class="btn secondary">Review and approve' in page


@pytest.mark.parametrize("path", PAGES)
def test_every_env_page_renders_in_300_ms_with_a_cluster_that_never_answers(signed_in, dev,
                                                                            path):
    # Templates compiled on another environment's page: dev's cluster was never read.
    Environment.objects.create(name="warm", tier="dev")
    signed_in.get(path.replace("/dev/", "/warm/"))
    started = time.monotonic()
    response = signed_in.get(path)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 0.3, f"{path} took {elapsed:.3f} s"


def test_the_overview_names_drift_and_overdue_secrets(signed_in, dev):
    DriftStatus.objects.create(environment=dev, status="drifted",
                               drifted=[{"address": "a.b", "reason": "x", "actions": []}])
    Secret.objects.create(environment=dev, name="API_KEY", max_age_days=30,
                          set_at=timezone.now() - timedelta(days=40))
    page = signed_in.get("/envs/dev/overview/").content.decode()
    assert "Drift: 1 resource changed outside Terraform" in page
    assert "1 secret is overdue for rotation: API_KEY" in page
    assert 'href="/envs/dev/secrets/"' in page


def test_live_status_is_loaded_apart_and_the_connection_can_be_removed(signed_in, dev):
    page = signed_in.get("/envs/dev/deploys/").content.decode()
    assert 'hx-get="/envs/dev/deploys/live/" hx-trigger="load" hx-swap="outerHTML"' in page
    live = signed_in.get("/envs/dev/deploys/live/").content.decode()
    assert "Cannot read the cluster" in live and "unreachable since" in live
    assert "Reading the cluster (unreachable since" in signed_in.get(
        "/envs/dev/deploys/").content.decode()
    assert 'id="remove-cluster"' in page and "Remove cluster connection" in page
    response = signed_in.post("/envs/dev/deploys/cluster/", {"clear": "1"})
    assert response.status_code == 302
    dev.refresh_from_db()
    assert dev.kubeconfig is None
    page = signed_in.get("/envs/dev/deploys/").content.decode()
    assert "No cluster connection is set for dev" in page and 'id="remove-cluster"' not in page


def test_the_overview_says_what_runs_here(signed_in, dev):
    page = signed_in.get("/envs/dev/overview/").content.decode()
    assert 'id="running-here"' in page and "ghcr.io/acme/shop:7" in page
    assert 'href="/board/#cell-dev-shop"' in page


def test_deploy_on_the_env_page_is_disabled_without_a_cluster_and_says_why(signed_in, dev):
    assert 'id="deploy-disabled"' not in signed_in.get("/envs/dev/deploys/").content.decode()
    dev.kubeconfig = None
    dev.save()
    page = signed_in.get("/envs/dev/deploys/").content.decode()
    assert '<button class="btn" type="submit" disabled title="dev has no cluster connection"' \
        in page
    assert 'No cluster connection: <a href="#cluster">set one above</a>' in page
    assert 'id="cluster"' in page
