"""An environment's cluster connection filled from a Terraform output: the local stack (here
applied as a platform-tier environment, like a platform stack) outputs a sensitive
`kubeconfig`; after its apply the owner copies it into another environment's encrypted
kubeconfig without ever seeing it. A local-tier environment's kubeconfig is never offered to
dev/test/prod (nor accepted); another environment's output on prod needs the typed name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.conf import settings

from envs.models import Environment
from portal.audit.models import AuditEvent
from portal.runs.choices import Status

from .test_provisioning_flow import approve, copy_local_stack, log_of, make_env, plan
from .test_provisioning_worker import assert_not_in_database, assert_not_in_files

URL = "/api/envs/dev/cluster/from-output/"


def applied(api, tmp_path, name: str, tier: str) -> tuple[Environment, list[int]]:
    env = make_env(copy_local_stack(tmp_path / name), name=name, tier=tier)
    planned = plan(api, name)
    done = approve(api, planned.pk)
    assert done.status == Status.SUCCEEDED, log_of(done.pk)
    return env, [planned.pk, done.pk]


@pytest.fixture
def platform(transactional_db, tmp_path, api) -> tuple[Environment, list[int]]:
    """The local stack applied as a platform-tier environment that owns the cluster."""
    return applied(api, tmp_path, "platform", "platform")


@pytest.fixture
def local(transactional_db, tmp_path, api) -> tuple[Environment, list[int]]:
    """The local stack applied as a local-tier environment (a laptop's cluster)."""
    return applied(api, tmp_path, "local", "local")


def token_of(env_name: str) -> str:
    config = yaml.safe_load(Environment.objects.get(name=env_name).kubeconfig)
    return config["users"][0]["user"]["token"]


def test_kubeconfig_output_is_copied_never_shown_and_audited(api, platform, signed_in):
    _, runs = platform
    Environment.objects.create(name="dev", tier="dev")
    assert api.get("/api/envs/dev/cluster/").json()["set"] is False
    page = signed_in.get("/envs/dev/all/").content.decode()
    assert 'id="cluster-from-platform"' in page  # the button: its last apply has the output

    response = api.post(URL, {"source": "platform", "output": "kubeconfig"}, format="json")
    assert response.status_code == 200, response.content
    expected = {"set": True, "server": "https://192.0.2.10:6443", "in_cluster": False,
                "source": {"env": "platform", "output": "kubeconfig", "run": runs[1],
                           "outdated": False}}
    assert response.json() == expected
    assert api.get("/api/envs/dev/cluster/").json() == expected

    token = token_of("dev")
    assert token.startswith("local-") and len(token) > 20
    event = AuditEvent.objects.get(action="deploys.cluster.from_output")
    assert event.target == "env:dev" and event.detail["source"] == "platform"
    assert event.detail["server"] == "https://192.0.2.10:6443"

    pages = [response.content.decode()]
    pages += [signed_in.get(f"/envs/{name}/all/").content.decode()
              for name in ("dev", "platform")]
    pages += [api.get(url).content.decode() for url in (
        "/api/envs/dev/cluster/", "/api/envs/platform/", "/api/envs/", "/api/audit/",
        *(f"/api/runs/{pk}/log/" for pk in runs))]
    assert "from output <code>kubeconfig</code> of" in pages[1]
    assert api.get("/api/envs/platform/").json()["outputs"]["kubeconfig"] == {
        "value": "(sensitive)", "sensitive": True}
    assert not any(token in text for text in pages)
    assert_not_in_database(token)
    assert_not_in_files(token, Path(settings.DATA_DIR))


def test_refusals_name_what_is_wrong_without_echoing_values(api, platform):
    Environment.objects.create(name="dev", tier="dev")
    Environment.objects.create(name="test", tier="test")

    def refused(data: dict) -> dict:
        response = api.post(URL, data, format="json")
        assert response.status_code == 400, response.content
        return response.json()

    assert "no environment named 'nope'" in refused({"source": "nope"})["fields"]["source"][0]
    assert "has not been applied" in refused({"source": "test"})["fields"]["source"][0]
    missing = refused({"source": "platform", "output": "kubecfg"})["fields"]["output"][0]
    assert "no output 'kubecfg'" in missing and "namespace" in missing
    # An output that is no kubeconfig (a list, a plain string) is refused as such.
    assert "not a kubeconfig" in refused({"source": "platform", "output": "bucket_names"})[
        "detail"]
    body = refused({"source": "platform", "output": "cluster_endpoint"})
    assert "not a usable kubeconfig: kubeconfig has no clusters" in body["detail"]
    assert "192.0.2.10" not in str(body)
    assert Environment.objects.get(name="dev").kubeconfig is None
    assert not AuditEvent.objects.filter(action="deploys.cluster.from_output").exists()


def test_the_button_then_a_new_apply_marks_the_copy_outdated(api, platform, signed_in):
    env, _ = platform
    Environment.objects.create(name="dev", tier="dev")
    response = signed_in.post("/envs/dev/deploys/cluster/from-output/",
                              {"source": "platform", "output": "kubeconfig"})
    assert response.status_code == 302
    page = signed_in.get("/envs/dev/all/").content.decode()
    assert "set from output kubeconfig of platform: https://192.0.2.10:6443" in page
    first = token_of("dev")

    # The platform is applied again (a new VPS address replaces the cluster): the copy is
    # now outdated, and copying again picks up the new kubeconfig.
    env.tf_variables = {**env.tf_variables, "vps_ipv4": "192.0.2.20"}
    env.save()
    again_applied = approve(api, plan(api, "platform").pk)
    assert again_applied.status == Status.SUCCEEDED, log_of(again_applied.pk)
    info = api.get("/api/envs/dev/cluster/").json()
    assert info["source"]["outdated"] is True and info["server"] == "https://192.0.2.10:6443"
    assert "was applied again since" in signed_in.get("/envs/dev/all/").content.decode()
    again = api.post(URL, {"source": "platform"}, format="json").json()
    assert again["server"] == "https://192.0.2.20:6443" and again["source"]["outdated"] is False
    assert token_of("dev") != first

    # Setting a kubeconfig by hand forgets where the old one came from.
    manual = yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "x",
                             "clusters": [{"name": "x", "cluster": {
                                 "server": "https://192.0.2.99:6443"}}],
                             "users": [{"name": "u", "user": {"token": "by-hand-token"}}],
                             "contexts": [{"name": "x", "context": {"cluster": "x",
                                                                    "user": "u"}}]})
    put = api.put("/api/envs/dev/cluster/", {"kubeconfig": manual}, format="json").json()
    assert put["source"] is None and put["server"] == "https://192.0.2.99:6443"


def test_a_local_tier_kubeconfig_is_neither_offered_nor_taken_by_dev_test_prod(
        api, local, signed_in):
    for name in ("dev", "test", "prod"):
        Environment.objects.create(name=name, tier=name)
    Environment.objects.create(name="laptop", tier="local")
    for name in ("dev", "test", "prod"):
        page = signed_in.get(f"/envs/{name}/deploys/").content.decode()
        assert "Use the kubeconfig output of local" not in page, name
        response = api.post(f"/api/envs/{name}/cluster/from-output/",
                            {"source": "local", "output": "kubeconfig", "confirm": name},
                            format="json")
        assert response.status_code == 400, response.content
        message = ("local is a local-tier environment: its cluster is not one dev/test/prod "
                   "should deploy to")
        assert response.json()["fields"] == {"source": [message]}
        assert response.json()["detail"] == f"source: {message}"
        assert Environment.objects.get(name=name).kubeconfig is None
    # The page form refuses it the same way (a hand-made post).
    response = signed_in.post("/envs/dev/deploys/cluster/from-output/",
                              {"source": "local", "output": "kubeconfig"}, follow=True)
    assert "Refused: source: local is a local-tier environment" in response.content.decode()
    assert Environment.objects.get(name="dev").kubeconfig is None
    assert not AuditEvent.objects.filter(action="deploys.cluster.from_output").exists()

    # A local-tier environment may use it.
    page = signed_in.get("/envs/laptop/deploys/").content.decode()
    assert 'id="cluster-from-local"' in page
    response = api.post("/api/envs/laptop/cluster/from-output/", {"source": "local"},
                        format="json")
    assert response.status_code == 200, response.content
    assert response.json()["source"]["env"] == "local"
    assert token_of("laptop").startswith("local-")


def test_another_environments_output_on_prod_needs_the_typed_name(api, platform, signed_in):
    Environment.objects.create(name="prod", tier="prod")
    url = "/api/envs/prod/cluster/from-output/"
    for body in ({"source": "platform"}, {"source": "platform", "confirm": "dev"}):
        response = api.post(url, body, format="json")
        assert response.status_code == 400, response.content
        assert response.json()["error"] == "confirmation_required"
        assert response.json()["fields"] == {"confirm": ["must be 'prod'"]}
    assert Environment.objects.get(name="prod").kubeconfig is None
    assert not AuditEvent.objects.filter(action="deploys.cluster.from_output").exists()

    # The page's button comes with the field for the typed name.
    page = signed_in.get("/envs/prod/deploys/").content.decode()
    assert 'id="cluster-from-platform-confirm"' in page and "Type <strong>prod</strong>" in page
    response = signed_in.post("/envs/prod/deploys/cluster/from-output/",
                              {"source": "platform", "output": "kubeconfig"}, follow=True)
    text = response.content.decode()
    assert ("Refused: prod is a prod-tier environment: repeat its name in the confirmation "
            "field") in text and '"confirm": "prod"' not in text
    assert Environment.objects.get(name="prod").kubeconfig is None
    response = signed_in.post("/envs/prod/deploys/cluster/from-output/",
                              {"source": "platform", "output": "kubeconfig",
                               "confirm": "prod"}, follow=True)
    assert "Cluster connection of prod set from output kubeconfig of platform" in \
        response.content.decode()
    assert token_of("prod").startswith("local-")

    # Through the API, the same way as a prod deploy.
    Environment.objects.filter(name="prod").update(kubeconfig=None)
    response = api.post(url, {"source": "platform", "confirm": "prod"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["source"]["env"] == "platform"
    # dev and test need no typed name.
    Environment.objects.create(name="test", tier="test")
    response = api.post("/api/envs/test/cluster/from-output/", {"source": "platform"},
                        format="json")
    assert response.status_code == 200, response.content
