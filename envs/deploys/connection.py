"""An environment's cluster connection as the portal shows it: whether it is set, the
server, where it came from (by hand, or another environment's Terraform output), and
whether a kubeconfig is usable. Never the kubeconfig itself."""

from __future__ import annotations

from django.conf import settings

from envs.choices import Tier
from envs.cluster import kubeconfig_secrets
from envs.models import Environment
from envs.provisioning.models import StateSnapshot
from portal.lib.kube import Cluster, KubeError, server_url
from portal.lib.redact import Redactor


def has_connection(env: Environment) -> bool:
    """Whether ``env`` has a cluster connection (a kubeconfig, or deploying in-cluster),
    without parsing the kubeconfig: what every action and page that needs the cluster asks."""
    return bool(env.kubeconfig) or bool(settings.DEPLOY_IN_CLUSTER)


def cluster_info(env: Environment) -> dict:
    """What may be shown about the connection: whether it is set, the server URL, and
    where it came from (by hand, or a Terraform output: then whether that environment was
    applied again since, which may have changed the kubeconfig)."""
    if env.kubeconfig:
        try:
            server: str | None = server_url(env.kubeconfig)
        except KubeError:
            server = None
        return {"set": True, "server": server, "in_cluster": False,
                "source": source_info(env.kubeconfig_source)}
    if settings.DEPLOY_IN_CLUSTER:
        return {"set": True, "server": "in-cluster", "in_cluster": True, "source": None}
    return {"set": False, "server": None, "in_cluster": False, "source": None}


def source_info(source: dict | None) -> dict | None:
    """The Terraform output a kubeconfig was copied from, and whether it is outdated."""
    if not source or not source.get("env"):
        return None
    latest = StateSnapshot.objects.filter(environment__name=source["env"]).values_list(
        "last_apply_run_id", flat=True).first()
    return {"env": source["env"], "output": source.get("output", ""),
            "run": source.get("run"), "outdated": bool(latest and latest != source.get("run"))}


def output_sources(output: str = "kubeconfig", for_env: Environment | None = None) -> list[str]:
    """Environments whose last apply left an output of that name (the page's choices);
    ``for_env``: only those it may copy from (a local-tier source serves local-tier
    environments only, never dev/test/prod)."""
    snapshots = StateSnapshot.objects.filter(outputs__has_key=output)
    if for_env is not None and for_env.tier != Tier.LOCAL:
        snapshots = snapshots.exclude(environment__tier=Tier.LOCAL)
    return sorted(snapshots.values_list("environment__name", flat=True))


def kubeconfig_problem(kubeconfig: str) -> str | None:
    """Why a kubeconfig cannot be used (None: it can), never quoting a credential: it is
    parsed and a client built; no request is made."""
    scrub = Redactor()
    for secret in kubeconfig_secrets(kubeconfig):
        scrub.add(secret)
    try:
        Cluster(kubeconfig).close()
    except KubeError as exc:
        # YAML errors quote the offending line, which may hold a token: never echo them
        return "not valid YAML" if "YAML" in exc.message else scrub(exc.message)
    return None
