"""An environment's cluster connection filled from a Terraform output: the local stack (like
a platform stack) outputs a sensitive `kubeconfig`; after its apply the owner copies it into
another environment's encrypted kubeconfig without ever seeing it."""

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


@pytest.fixture
def platform(transactional_db, tmp_path, api) -> tuple[Environment, list[int]]:
    """The local stack applied, as the environment that owns the cluster."""
    env = make_env(copy_local_stack(tmp_path / "local"))
    planned = plan(api)
    applied = approve(api, planned.pk)
    assert applied.status == Status.SUCCEEDED, log_of(applied.pk)
    return env, [planned.pk, applied.pk]


def token_of(env_name: str) -> str:
    config = yaml.safe_load(Environment.objects.get(name=env_name).kubeconfig)
    return config["users"][0]["user"]["token"]


def test_kubeconfig_output_is_copied_never_shown_and_audited(api, platform, signed_in):
    _, runs = platform
    Environment.objects.create(name="dev", tier="dev")
    assert api.get("/api/envs/dev/cluster/").json()["set"] is False
    page = signed_in.get("/envs/dev/all/").content.decode()
    assert 'id="cluster-from-local"' in page  # the button: local's last apply has the output

    response = api.post(URL, {"source": "local", "output": "kubeconfig"}, format="json")
    assert response.status_code == 200, response.content
    expected = {"set": True, "server": "https://192.0.2.10:6443", "in_cluster": False,
                "source": {"env": "local", "output": "kubeconfig", "run": runs[1],
                           "outdated": False}}
    assert response.json() == expected
    assert api.get("/api/envs/dev/cluster/").json() == expected

    token = token_of("dev")
    assert token.startswith("local-") and len(token) > 20
    event = AuditEvent.objects.get(action="deploys.cluster.from_output")
    assert event.target == "env:dev" and event.detail["source"] == "local"
    assert event.detail["server"] == "https://192.0.2.10:6443"

    pages = [response.content.decode()]
    pages += [signed_in.get(f"/envs/{name}/all/").content.decode() for name in ("dev", "local")]
    pages += [api.get(url).content.decode() for url in (
        "/api/envs/dev/cluster/", "/api/envs/local/", "/api/envs/", "/api/audit/",
        *(f"/api/runs/{pk}/log/" for pk in runs))]
    assert "from output <code>kubeconfig</code> of" in pages[1]
    assert api.get("/api/envs/local/").json()["outputs"]["kubeconfig"] == {
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
    missing = refused({"source": "local", "output": "kubecfg"})["fields"]["output"][0]
    assert "no output 'kubecfg'" in missing and "namespace" in missing
    # An output that is no kubeconfig (a list, a plain string) is refused as such.
    assert "not a kubeconfig" in refused({"source": "local", "output": "bucket_names"})[
        "detail"]
    body = refused({"source": "local", "output": "cluster_endpoint"})
    assert "not a usable kubeconfig: kubeconfig has no clusters" in body["detail"]
    assert "192.0.2.10" not in str(body)
    assert Environment.objects.get(name="dev").kubeconfig is None
    assert not AuditEvent.objects.filter(action="deploys.cluster.from_output").exists()


def test_the_button_then_a_new_apply_marks_the_copy_outdated(api, platform, signed_in):
    env, _ = platform
    Environment.objects.create(name="dev", tier="dev")
    response = signed_in.post("/envs/dev/deploys/cluster/from-output/",
                              {"source": "local", "output": "kubeconfig"})
    assert response.status_code == 302
    page = signed_in.get("/envs/dev/all/").content.decode()
    assert "set from output kubeconfig of local: https://192.0.2.10:6443" in page
    first = token_of("dev")

    # The platform is applied again (a new VPS address replaces the cluster): the copy is
    # now outdated, and copying again picks up the new kubeconfig.
    env.tf_variables = {**env.tf_variables, "vps_ipv4": "192.0.2.20"}
    env.save()
    applied = approve(api, plan(api).pk)
    assert applied.status == Status.SUCCEEDED, log_of(applied.pk)
    info = api.get("/api/envs/dev/cluster/").json()
    assert info["source"]["outdated"] is True and info["server"] == "https://192.0.2.10:6443"
    assert "was applied again since" in signed_in.get("/envs/dev/all/").content.decode()
    again = api.post(URL, {"source": "local"}, format="json").json()
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
