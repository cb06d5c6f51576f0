"""An environment's Kubernetes cluster, as every feature reaches it.

One way to connect (the environment's kubeconfig, else the pod's service account when the
portal runs in the cluster), the credentials a run must keep out of its log, and one
restart-and-wait, so deploys and secret rotations roll workloads with the same timeouts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import yaml
from django.conf import settings

from portal.errors import NotConfigured
from portal.lib.kube import Cluster, RolloutResult

from .models import Environment

# (connect, read) seconds of each request to the API server. A page (or an API answer) must
# not hang on a dead cluster; a run reads with PORTAL_KUBE_REQUEST_TIMEOUT.
CONNECT_SECONDS = 5
PAGE_TIMEOUT: tuple[float, float] = (2, 5)
# Kubernetes' own default for a Deployment's progressDeadlineSeconds.
DEFAULT_PROGRESS_DEADLINE = 600


class NoCluster(NotConfigured):
    """The environment has no cluster connection."""


def run_timeout() -> tuple[float, float]:
    return (CONNECT_SECONDS, settings.KUBE_REQUEST_TIMEOUT)


def kubeconfig_secrets(text: str | None) -> list[str]:
    """Every credential inside a kubeconfig (and the whole text), for a run's redactor."""
    if not text:
        return []
    values = [text]
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return values
    users = data.get("users") if isinstance(data, dict) else None
    for user in users if isinstance(users, list) else []:
        fields = (user.get("user") if isinstance(user, dict) else None) or {}
        if not isinstance(fields, dict):
            continue
        for key in ("token", "password", "client-key-data", "client-certificate-data"):
            if fields.get(key):
                values.append(str(fields[key]))
    return values


def connect(env: Environment, *, for_page: bool = False,
            redact: Callable[..., None] | None = None) -> Cluster:
    """A client for ``env``'s cluster (no request is made yet). ``for_page``: the short
    PAGE_TIMEOUT and no read retries; else the run timeouts. ``redact`` (a run's
    ``ctx.secret``) is handed the kubeconfig's credentials first. NoCluster when the
    environment has no connection; KubeError when its kubeconfig is unusable."""
    if redact is not None:
        redact(*kubeconfig_secrets(env.kubeconfig))
    timeout = PAGE_TIMEOUT if for_page else run_timeout()
    if env.kubeconfig:
        cluster = Cluster(env.kubeconfig, request_timeout=timeout)
    elif settings.DEPLOY_IN_CLUSTER:
        cluster = Cluster(in_cluster=True, request_timeout=timeout)
    else:
        raise NoCluster(detail=f"environment {env.name} has no cluster connection: set its "
                        f"kubeconfig (PUT /api/envs/{env.name}/cluster/ or the environment "
                        "page)")
    if for_page:
        cluster.read_retries = 0
    return cluster


def rollout_timeout(progress_deadline: int | None, override: int | None = None) -> float:
    """How long a rollout may take: ``override`` (a deploy target's own timeout) when set,
    else the Deployment's progressDeadlineSeconds + PORTAL_DEPLOY_ROLLOUT_GRACE."""
    if override:
        return float(override)
    return float((progress_deadline or DEFAULT_PROGRESS_DEADLINE)
                 + settings.DEPLOY_ROLLOUT_GRACE)


@dataclass
class Rollout:
    """How the rollout of one restarted Deployment ended, and the time it was given."""
    deployment: str
    result: RolloutResult
    timeout: float


def restart_and_wait(cluster: Cluster, namespace: str, deployments: list[str], *,
                     stamp: Callable[[], str] | None = None,
                     on_restart: Callable[[str, dict], None] | None = None,
                     on_progress: Callable[[str, str], None] | None = None,
                     should_cancel: Callable[[], bool] | None = None,
                     timeout: int | None = None) -> list[Rollout]:
    """Rolling restart of every named Deployment (all at once), then wait for each rollout
    (``rollout_timeout`` each, ``timeout`` overriding it). ``stamp()`` gives the restart
    annotation's value (distinct values restart again within one second);
    ``on_restart(name, deployment)`` and ``on_progress(name, line)`` report as it goes.
    Without ``should_cancel`` the wait cannot be canceled (a revert must finish)."""
    restarted = []
    for name in deployments:
        dep = cluster.restart(namespace, name, stamp=stamp() if stamp else None)
        if on_restart is not None:
            on_restart(name, dep)
        restarted.append((name, dep))
    outcomes = []
    for name, dep in restarted:
        limit = rollout_timeout((dep.get("spec") or {}).get("progressDeadlineSeconds"), timeout)

        def progress(line: str, name: str = name) -> None:
            if on_progress is not None:
                on_progress(name, line)

        result = cluster.watch_rollout(namespace, name, limit, on_progress=progress,
                                       should_cancel=should_cancel)
        outcomes.append(Rollout(name, result, limit))
    return outcomes
