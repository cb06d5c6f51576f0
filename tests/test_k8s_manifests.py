"""deploy/k8s/ manifests are accepted by a Kubernetes API server (the test server),
applied with the official client the way `kubectl apply -f deploy/k8s/` would."""

from __future__ import annotations

from pathlib import Path

import yaml
from kubernetes import client, config, utils

from tests.fakes.kubeserver import KubeTestServer

MANIFESTS = Path(__file__).resolve().parent.parent / "deploy" / "k8s"


def test_manifests_apply_cleanly_and_wire_up():
    documents = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
    kinds = {d["kind"] for d in documents}
    assert {"Namespace", "Deployment", "Service", "Secret", "ConfigMap", "Ingress",
            "ClusterRole", "ClusterRoleBinding", "PersistentVolumeClaim"} <= kinds
    with KubeTestServer(controller=False) as server:
        api = config.new_client_from_config_dict(yaml.safe_load(server.kubeconfig()))
        for path in sorted(MANIFESTS.glob("*.yaml")):
            utils.create_from_yaml(api, str(path))
        apps = client.AppsV1Api(api)
        names = {d.metadata.name for d in apps.list_namespaced_deployment("eaas-portal").items}
        assert names == {"portal-web", "portal-worker", "postgres", "redis"}
        web = apps.read_namespaced_deployment("portal-web", "eaas-portal")
        container = web.spec.template.spec.containers[0]
        assert container.args == ["web"]
        assert {s.secret_ref.name for s in container.env_from if s.secret_ref} == {"portal-secrets"}
        assert container.readiness_probe.http_get.path == "/healthz"
        worker = apps.read_namespaced_deployment("portal-worker", "eaas-portal")
        assert worker.spec.template.spec.containers[0].args == ["worker"]
        # Every variable the manifests set is one the portal reads (.env.example lists them).
        example = (MANIFESTS.parent.parent / ".env.example").read_text()
        for doc in documents:
            if doc["kind"] in ("ConfigMap", "Secret"):
                for key in {**doc.get("data", {}), **doc.get("stringData", {})}:
                    assert key == "POSTGRES_PASSWORD" or f"{key}=" in example, key
        secret = client.CoreV1Api(api).read_namespaced_secret("portal-secrets", "eaas-portal")
        assert "DATABASE_URL" in secret.data and secret.string_data is None
