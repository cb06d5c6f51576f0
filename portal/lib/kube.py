"""Kubernetes access for deploy and rotate runs: a thin wrapper over the official client.

No Django here. A ``Cluster`` is built from a kubeconfig *string* (parsed in memory, never
written to a temp file by us) or from the in-cluster service account. Objects come back as
plain dicts (camelCase, as the API spells them). Every failure is a ``KubeError`` whose
``kind`` is one of KubeError.KINDS and whose message names the object and where it lives.

Concurrency: image and env changes are JSON patches that carry ``test`` operations on
``/metadata/resourceVersion`` (and on the container's name at the patched index). A JSON
patch sends only the change, so no other field of the object can be overwritten (a PUT of a
whole object re-read through this client's models would also drop any field the models do
not know); the test makes it atomic: the server applies it only if the object is still the
one the caller read. A failed test comes back as 422, which we turn into ``conflict`` after
checking that the object did change.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import urllib3
import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
KUBERO_GROUP, KUBERO_VERSION, KUBERO_PLURAL = "application.kubero.dev", "v1alpha1", "kuberoapps"


class KubeError(Exception):
    KINDS = ("unreachable", "not_found", "forbidden", "conflict", "invalid", "timeout",
             "unauthorized", "server_error")

    def __init__(self, message: str, kind: str = "server_error", status: int | None = None):
        super().__init__(message)
        self.message, self.kind, self.status = message, kind, status


@dataclass
class RolloutResult:
    state: str  # complete | failed | timeout | canceled
    reason: str = ""
    message: str = ""
    last_progress: str = ""
    pod_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state == "complete"


def _parse_kubeconfig(kubeconfig: str) -> dict:
    try:
        data = yaml.safe_load(kubeconfig)
    except yaml.YAMLError as exc:
        raise KubeError(f"kubeconfig is not valid YAML: {exc}", "invalid")
    if not isinstance(data, dict) or not data.get("clusters"):
        raise KubeError("kubeconfig has no clusters", "invalid")
    _refuse_commands_and_files(data)
    return data


# The official client RUNS a user's exec plugin (and a gcp/oidc auth-provider's cmd-path)
# while loading a kubeconfig, and reads any file a *-file/path field names: a kubeconfig
# sent to the API must never make the portal run a command or read (and send) its files.
_USER_REFUSED = ("exec", "auth-provider", "tokenFile", "token-file", "client-certificate",
                 "client-key")
_CLUSTER_REFUSED = ("certificate-authority",)


def _refuse_commands_and_files(data: dict) -> None:
    for section, refused, keep in (("users", _USER_REFUSED, "user"),
                                   ("clusters", _CLUSTER_REFUSED, "cluster")):
        entries = data.get(section) or []
        if not isinstance(entries, list):
            raise KubeError(f"kubeconfig {section} must be a list", "invalid")
        for entry in entries:
            body = entry.get(keep) if isinstance(entry, dict) else None
            if body is None:
                continue
            if not isinstance(body, dict):
                raise KubeError(f"kubeconfig {section} entries must be mappings", "invalid")
            found = [key for key in refused if key in body]
            if found:
                name = entry.get("name", "?")
                raise KubeError(
                    f"kubeconfig {keep} {name!r} uses {', '.join(found)}: the portal never "
                    "runs commands or reads files named in a kubeconfig; use a token or "
                    "client-certificate-data/client-key-data (and certificate-authority-data)",
                    "invalid")


def server_url(kubeconfig: str, context: str | None = None) -> str:
    """The API server URL the kubeconfig points at, without credentials or query."""
    data = _parse_kubeconfig(kubeconfig)
    ctx_name = context or data.get("current-context")
    contexts = {c.get("name"): c.get("context") or {} for c in data.get("contexts") or []}
    clusters = {c.get("name"): c.get("cluster") or {} for c in data.get("clusters") or []}
    cluster_name = contexts.get(ctx_name, {}).get("cluster") if ctx_name else None
    cluster = clusters.get(cluster_name) or (next(iter(clusters.values())) if len(clusters) == 1
                                             else None)
    if not cluster or not cluster.get("server"):
        raise KubeError(f"kubeconfig context {ctx_name!r} names no cluster server", "invalid")
    parts = urlsplit(str(cluster["server"]))
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def managed_by(deployment: dict, ignore: tuple[str, ...] = ("eaas-portal",)) -> str | None:
    """Who else owns this workload: a controller owner, Argo CD, Flux or a managed-by label."""
    meta = deployment.get("metadata") or {}
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    for owner in meta.get("ownerReferences") or []:
        if owner.get("controller"):
            return f"{owner.get('kind')}/{owner.get('name')}"
    if labels.get("argocd.argoproj.io/instance"):
        return f"argocd:{labels['argocd.argoproj.io/instance']}"
    if annotations.get("argocd.argoproj.io/tracking-id"):
        return f"argocd:{annotations['argocd.argoproj.io/tracking-id'].split(':')[0]}"
    for key in ("kustomize.toolkit.fluxcd.io/name", "helm.toolkit.fluxcd.io/name"):
        if labels.get(key):
            return f"flux:{labels[key]}"
    value = labels.get("app.kubernetes.io/managed-by")
    return value if value and value not in ignore else None


def split_image(image: str) -> tuple[str, str]:
    """``registry:5000/app:1.2`` -> (``registry:5000/app``, ``1.2``); no tag means latest."""
    if "@" in image:
        raise KubeError(f"image {image!r} uses a digest; Kubero needs repository and tag",
                        "invalid")
    repo, _, tag = image.rpartition(":")
    if not repo or "/" in tag:
        return image, "latest"
    return repo, tag


def rollout_state(dep: dict) -> tuple[str, str, str]:
    """(state, reason, progress line) for a Deployment, as ``kubectl rollout status`` judges:
    state is ``progressing``, ``complete`` or ``failed``."""
    meta, spec, status = dep.get("metadata") or {}, dep.get("spec") or {}, dep.get("status") or {}
    desired = spec.get("replicas", 1) if spec.get("replicas") is not None else 1
    updated = status.get("updatedReplicas") or 0
    ready = status.get("readyReplicas") or 0
    available = status.get("availableReplicas") or 0
    total = status.get("replicas") or 0
    line = f"{updated}/{desired} pods updated, {ready} ready"
    if (status.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        return "progressing", "", f"waiting for the controller to see generation " \
                                  f"{meta.get('generation')}"
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return "failed", "ProgressDeadlineExceeded", f"{line}: {cond.get('message', '')}"
    if updated < desired:
        return "progressing", "", line
    if total > updated:
        return "progressing", "", f"{line}, {total - updated} old pods terminating"
    if available < updated:
        return "progressing", "", f"{line}, {available} available"
    return "complete", "", f"{line}, rollout complete"


def _selector_matches(selector: dict | None, labels: dict | None) -> bool:
    selector, labels = selector or {}, labels or {}
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        ok = {"In": key in labels and labels[key] in values,
              "NotIn": key not in labels or labels[key] not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}.get(op, False)
        if not ok:
            return False
    return True


def _merged_env(current: list[dict], env: dict[str, str]) -> list[dict]:
    """The container's env with its plain values made exactly ``env``; valueFrom entries stay
    as they are and are never overwritten."""
    result, seen = [], set()
    for entry in current:
        if entry.get("valueFrom") is not None:
            result.append(entry)
        elif entry["name"] in env:
            result.append({"name": entry["name"], "value": str(env[entry["name"]])})
        seen.add(entry["name"])
    return result + [{"name": k, "value": str(v)} for k, v in env.items() if k not in seen]


def _containers(dep: dict) -> list[dict]:
    return ((((dep.get("spec") or {}).get("template") or {}).get("spec") or {})
            .get("containers") or [])


def plain_env(dep: dict, container: str) -> dict[str, str]:
    """The container's plain (non-valueFrom) env values, e.g. to restore on rollback."""
    for c in _containers(dep):
        if c.get("name") == container:
            return {e["name"]: e.get("value", "") for e in c.get("env") or []
                    if "valueFrom" not in e or e.get("valueFrom") is None}
    raise KubeError(f"container {container!r} not found", "not_found")


class Cluster:
    def __init__(self, kubeconfig: str | None = None, *, context: str | None = None,
                 in_cluster: bool = False, request_timeout: tuple[float, float] = (5, 30),
                 read_retries: int = 2):
        cfg = client.Configuration()
        cfg.retries = urllib3.Retry(total=1, read=0, status=0, redirect=0)
        if in_cluster:
            config.load_incluster_config(client_configuration=cfg)
            self.server = cfg.host
            self.api = client.ApiClient(cfg)
        else:
            if not kubeconfig:
                raise KubeError("no kubeconfig given", "invalid")
            self.server = server_url(kubeconfig, context)
            try:
                self.api = config.new_client_from_config_dict(
                    _parse_kubeconfig(kubeconfig), context=context, persist_config=False,
                    client_configuration=cfg)
            except config.ConfigException as exc:
                raise KubeError(f"kubeconfig for {self.server} is not usable: {exc}", "invalid")
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.request_timeout = request_timeout
        self.read_retries = read_retries

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing ----------------------------------------------------------------------

    def _error(self, doing: str, exc: Exception) -> KubeError:
        where = f"{doing} on {self.server}"
        if isinstance(exc, ApiException):
            detail = exc.reason or ""
            try:
                body = json.loads(exc.body or "")
                detail = body.get("message") or detail
            except (TypeError, ValueError):
                pass
            kind = {401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
                    400: "invalid", 422: "invalid", 408: "timeout", 504: "timeout",
                    410: "conflict"}.get(exc.status or 0, "server_error")
            return KubeError(f"cannot {where}: {detail} (HTTP {exc.status})", kind, exc.status)
        if isinstance(exc, urllib3.exceptions.MaxRetryError):
            exc = exc.reason or exc
        if isinstance(exc, urllib3.exceptions.ReadTimeoutError | TimeoutError):
            return KubeError(f"cannot {where}: the API server did not answer in time", "timeout")
        if isinstance(exc, ValidationError):
            return KubeError(f"cannot {where}: unexpected answer from the API server: "
                             f"{exc.error_count()} invalid fields", "invalid")
        return KubeError(f"cannot {where}: API server unreachable ({type(exc).__name__})",
                         "unreachable")

    def _call(self, doing: str, fn: Callable, *args: Any, read: bool = False,
              **kwargs: Any) -> Any:
        kwargs.setdefault("_request_timeout", self.request_timeout)
        attempts = 1 + (self.read_retries if read else 0)
        for attempt in range(attempts):
            try:
                return fn(*args, **kwargs)
            except (ApiException, urllib3.exceptions.HTTPError, OSError,
                    ValidationError) as exc:
                err = self._error(doing, exc)
                if attempt + 1 < attempts and err.kind in ("server_error", "unreachable"):
                    time.sleep(0.2 * (attempt + 1))
                    continue
                raise err from exc
        raise AssertionError("unreachable")

    def _dict(self, obj: Any) -> Any:
        return self.api.sanitize_for_serialization(obj)

    # --- deployments -------------------------------------------------------------------

    def find_deployments(self, namespace: str, label_selector: str | None = None) -> list[dict]:
        where = f"list deployments in namespace {namespace}" + (
            f" matching {label_selector!r}" if label_selector else "")
        result = self._call(where, self.apps.list_namespaced_deployment, namespace,
                            label_selector=label_selector, read=True)
        return [self._dict(d) for d in result.items]

    def get_deployment(self, namespace: str, name: str) -> dict:
        return self._dict(self._call(f"read deployment {namespace}/{name}",
                                     self.apps.read_namespaced_deployment, name, namespace,
                                     read=True))

    def _container_index(self, dep: dict, container: str, namespace: str, name: str) -> int:
        names = [c.get("name") for c in _containers(dep)]
        if container not in names:
            raise KubeError(f"container {container!r} not found in deployment {namespace}/{name}"
                            f" on {self.server} (containers: {', '.join(map(str, names))})",
                            "not_found")
        return names.index(container)

    def _guarded_patch(self, namespace: str, name: str, resource_version: str, doing: str,
                       build: Callable[[dict, str], list[dict]]) -> dict:
        current = self.get_deployment(namespace, name)
        if current["metadata"].get("resourceVersion") != resource_version:
            raise KubeError(f"cannot {doing} deployment {namespace}/{name} on {self.server}: "
                            f"it changed since it was read (resourceVersion "
                            f"{resource_version} -> {current['metadata'].get('resourceVersion')})",
                            "conflict", 409)
        ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": resource_version}]
        ops += build(current, resource_version)
        try:
            return self._dict(self._call(f"{doing} deployment {namespace}/{name}",
                                         self.apps.patch_namespaced_deployment, name, namespace,
                                         ops, _content_type="application/json-patch+json"))
        except KubeError as exc:
            if exc.status != 422:
                raise
            latest = self.get_deployment(namespace, name)
            if latest["metadata"].get("resourceVersion") != resource_version:
                raise KubeError(f"cannot {doing} deployment {namespace}/{name} on "
                                f"{self.server}: it changed since it was read", "conflict", 409)
            raise

    def set_container_image(self, namespace: str, name: str, container: str, image: str,
                            resource_version: str) -> dict:
        """Change only ``container``'s image, refused (conflict) if the object changed."""
        return self.set_container(namespace, name, container, resource_version, image=image)

    def set_container_env(self, namespace: str, name: str, container: str,
                          env: dict[str, str], resource_version: str) -> dict:
        """Make the container's plain env exactly ``env`` (valueFrom entries are kept as they
        are, and a name that is a valueFrom entry is not overwritten)."""
        return self.set_container(namespace, name, container, resource_version, env=env)

    def set_container(self, namespace: str, name: str, container: str, resource_version: str,
                      image: str | None = None, env: dict[str, str] | None = None) -> dict:
        """Image and/or plain env of one container in ONE guarded patch (one rollout; a
        rollback needs both). JSON patch with ``test`` ops: only these fields change."""
        def build(dep: dict, _: str) -> list[dict]:
            i = self._container_index(dep, container, namespace, name)
            path = f"/spec/template/spec/containers/{i}"
            ops: list[dict[str, Any]] = [
                {"op": "test", "path": f"{path}/name", "value": container}]
            if image is not None:
                ops.append({"op": "replace", "path": f"{path}/image", "value": image})
            if env is not None:
                merged = _merged_env(_containers(dep)[i].get("env") or [], env)
                ops.append({"op": "add", "path": f"{path}/env", "value": merged})
            return ops
        what = ("set image of" if env is None else "set env of" if image is None
                else "update")
        return self._guarded_patch(namespace, name, resource_version,
                                   f"{what} container {container} in", build)

    def pod_image_ids(self, dep: dict, container: str) -> list[str]:
        """imageIDs (``repo@sha256:...``) the kubelet reports for ``container`` in the
        Deployment's pods, preferring pods that run the template's image; empty when no pod
        reports one yet. Call it once the rollout is complete."""
        ns = dep["metadata"].get("namespace", "")
        pods = [self._dict(p) for p in self._call(
            f"list pods in namespace {ns}", self.core.list_namespaced_pod, ns, read=True).items]
        image = next((c.get("image") for c in _containers(dep) if c.get("name") == container),
                     None)
        exact: set[str] = set()
        other: set[str] = set()
        for pod in pods:
            if not _selector_matches(dep["spec"].get("selector"), pod["metadata"].get("labels")):
                continue
            for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                if cs.get("name") == container and cs.get("imageID"):
                    # the kubelet may report the image normalised (docker.io/library/...)
                    (exact if cs.get("image") == image else other).add(cs["imageID"])
        return sorted(exact or other)

    def restart(self, namespace: str, name: str, stamp: str | None = None) -> dict:
        # ``stamp`` (secrets): a second restart within the same second must still change
        # the pod template, or no new rollout starts (a rotation's revert needs that).
        stamp = stamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        return self._dict(self._call(f"restart deployment {namespace}/{name}",
                                     self.apps.patch_namespaced_deployment, name, namespace,
                                     body))

    def watch_rollout(self, namespace: str, name: str, timeout: float = 600,
                      on_progress: Callable[[str], None] | None = None,
                      should_cancel: Callable[[], bool] | None = None,
                      window: int = 1, expect_image: str | None = None) -> RolloutResult:
        """Follow a rollout until complete, failed (ProgressDeadlineExceeded), ``timeout``
        seconds, or ``should_cancel()``; watches in ``window``-second slices. With
        ``expect_image``, a rollout only counts once some container of the pod template
        runs that image (an operator such as Kubero applies it asynchronously)."""
        deadline = time.monotonic() + timeout
        last = ""

        def judge(dep: dict) -> RolloutResult | None:
            nonlocal last
            state, reason, line = rollout_state(dep)
            if expect_image and expect_image not in {c.get("image") for c in _containers(dep)}:
                state, line = "progressing", f"waiting for image {expect_image} to be applied"
            if line != last:
                last = line
                if on_progress:
                    on_progress(line)
            if state == "complete":
                return RolloutResult("complete", message=line, last_progress=line)
            if state == "failed":
                return RolloutResult("failed", reason, line, line, self._pod_problems(dep))
            return None

        dep: dict | None = None
        while True:
            if should_cancel and should_cancel():
                return RolloutResult("canceled", "Canceled", "canceled", last)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                problems = self._pod_problems(dep) if dep else []
                return RolloutResult("timeout", "Timeout", f"no result after {timeout:g} s",
                                     last, problems)
            if dep is None:
                try:
                    dep = self.get_deployment(namespace, name)
                except KubeError as exc:
                    if exc.kind in ("not_found", "forbidden", "unauthorized"):
                        raise
                    time.sleep(min(0.3, max(remaining, 0)))
                    continue
                if result := judge(dep):
                    return result
            w = watch.Watch()
            try:
                for event in w.stream(
                        self.apps.list_namespaced_deployment, namespace,
                        field_selector=f"metadata.name={name}",
                        resource_version=dep["metadata"]["resourceVersion"],
                        timeout_seconds=max(1, min(window, int(remaining))),
                        _request_timeout=(self.request_timeout[0], window + 5),
                        deserialize=False):
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        dep = event["object"]
                        if result := judge(dep):
                            return result
                    elif event.get("type") == "DELETED":
                        raise KubeError(f"deployment {namespace}/{name} was deleted during "
                                        f"the rollout on {self.server}", "not_found", 404)
                    if should_cancel and should_cancel():
                        break
            except ApiException as exc:
                if exc.status in (401, 403):
                    raise self._error(f"watch deployment {namespace}/{name}", exc) from exc
                dep = None  # 410 Gone or a server error: re-read, then watch again
            except (urllib3.exceptions.HTTPError, OSError):
                dep = None
                time.sleep(0.3)
            finally:
                w.stop()

    def _pod_problems(self, dep: dict) -> list[str]:
        ns = dep["metadata"].get("namespace", "")
        try:
            pods = self._call(f"list pods in namespace {ns}", self.core.list_namespaced_pod, ns,
                              read=True).items
        except KubeError:
            return []
        problems = []
        for pod in (self._dict(p) for p in pods):
            if not _selector_matches(dep["spec"].get("selector"), pod["metadata"].get("labels")):
                continue
            for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                waiting = (cs.get("state") or {}).get("waiting")
                if waiting:
                    problems.append(f"pod {pod['metadata']['name']} container {cs['name']}: "
                                    f"{waiting.get('reason', 'Waiting')}")
        return problems

    def workload_status(self, namespace: str) -> list[dict]:
        deps = self.find_deployments(namespace)
        pods = [self._dict(p) for p in self._call(
            f"list pods in namespace {namespace}", self.core.list_namespaced_pod, namespace,
            read=True).items]
        now = datetime.now(UTC)
        out = []
        for dep in deps:
            mine = [p for p in pods if _selector_matches(dep["spec"].get("selector"),
                                                         p["metadata"].get("labels"))]
            created = dep["metadata"].get("creationTimestamp")
            age = int((now - datetime.fromisoformat(created)).total_seconds()) if created else 0
            out.append({
                "name": dep["metadata"]["name"],
                "containers": [{"name": c["name"], "image": c.get("image", "")}
                               for c in _containers(dep)],
                "ready": (dep.get("status") or {}).get("readyReplicas") or 0,
                "replicas": dep["spec"].get("replicas", 1),
                "age": age,
                "restarts": sum(cs.get("restartCount", 0) for p in mine
                                for cs in (p.get("status") or {}).get("containerStatuses") or []),
                "managed_by": managed_by(dep),
            })
        return out

    # --- KuberoApps --------------------------------------------------------------------

    def get_kubero_app(self, namespace: str, name: str) -> dict:
        return self._call(f"read KuberoApp {namespace}/{name}",
                          self.custom.get_namespaced_custom_object, KUBERO_GROUP,
                          KUBERO_VERSION, namespace, KUBERO_PLURAL, name, read=True)

    @staticmethod
    def kubero_app_image(app: dict) -> str:
        image = (app.get("spec") or {}).get("image") or {}
        return f"{image.get('repository', '')}:{image.get('tag') or 'latest'}"

    @staticmethod
    def kubero_app_env_vars(app: dict) -> list[dict]:
        """spec.envVars: the app's environment, a list of {name, value} (or valueFrom)."""
        return [dict(e) for e in (app.get("spec") or {}).get("envVars") or []
                if isinstance(e, dict) and e.get("name")]

    def set_kubero_app_image(self, namespace: str, name: str, image: str,
                             resource_version: str | None = None) -> dict:
        """Set spec.image.repository/tag; with ``resource_version`` the merge patch carries
        it, so the server refuses (409) if the app changed since it was read."""
        return self.set_kubero_app(namespace, name, resource_version, image=image)

    def set_kubero_app(self, namespace: str, name: str, resource_version: str | None = None,
                       *, image: str | None = None,
                       env_vars: list[dict] | None = None) -> dict:
        """Image and/or spec.envVars of a KuberoApp in ONE merge patch (one operator
        upgrade). A merge patch replaces a list whole, so ``env_vars`` is the complete new
        list; other spec fields (and image fields other than repository/tag) stay as they
        are. With ``resource_version`` the server refuses (409) if the app changed since."""
        spec: dict[str, Any] = {}
        if image is not None:
            repository, tag = split_image(image)
            spec["image"] = {"repository": repository, "tag": tag}
        if env_vars is not None:
            spec["envVars"] = env_vars
        body: dict[str, Any] = {"spec": spec}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        doing = " and ".join(w for w, v in (("image", image), ("envVars", env_vars))
                             if v is not None) or "nothing"
        return self._call(f"set {doing} of KuberoApp {namespace}/{name}",
                          self.custom.patch_namespaced_custom_object, KUBERO_GROUP,
                          KUBERO_VERSION, namespace, KUBERO_PLURAL, name, body)

    def watch_kubero_app(self, namespace: str, name: str, timeout: float = 600,
                         on_progress: Callable[[str], None] | None = None,
                         should_cancel: Callable[[], bool] | None = None) -> RolloutResult:
        """Wait for the app's image to reach its Deployment(s) and for their rollouts."""
        deadline = time.monotonic() + timeout
        image = self.kubero_app_image(self.get_kubero_app(namespace, name))
        deployments: list[dict] = []
        while not deployments:
            deployments = self.kubero_app_deployments(namespace, name)
            if not deployments:
                if time.monotonic() > deadline or (should_cancel and should_cancel()):
                    return RolloutResult("timeout", "NoDeployment",
                                         f"KuberoApp {namespace}/{name} owns no Deployment")
                time.sleep(0.3)
        result = RolloutResult("complete")
        for dep in deployments:
            result = self.watch_rollout(namespace, dep["metadata"]["name"],
                                        max(deadline - time.monotonic(), 0.1), on_progress,
                                        should_cancel, expect_image=image)
            if not result.ok:
                return result
        return result

    def kubero_app_deployments(self, namespace: str, name: str) -> list[dict]:
        uid = self.get_kubero_app(namespace, name)["metadata"]["uid"]
        return [d for d in self.find_deployments(namespace)
                if any(o.get("uid") == uid for o in d["metadata"].get("ownerReferences") or [])]

    # --- secrets -----------------------------------------------------------------------

    def secret_keys(self, namespace: str, name: str) -> list[str]:
        secret = self._call(f"read secret {namespace}/{name}", self.core.read_namespaced_secret,
                            name, namespace, read=True)
        return sorted((secret.data or {}).keys())

    # --- secrets helpers (issue 6: rotation revert, configuration completeness) --------

    def secret_key_value(self, namespace: str, name: str, key: str) -> str | None:
        """The decoded value of one key, None when the Secret or the key does not exist.
        The caller must treat it as a secret (register it with the run's redactor)."""
        try:
            secret = self._call(f"read secret {namespace}/{name}",
                                self.core.read_namespaced_secret, name, namespace, read=True)
        except KubeError as exc:
            if exc.kind == "not_found":
                return None
            raise
        encoded = (secret.data or {}).get(key)
        if encoded is None:
            return None
        return base64.b64decode(encoded).decode(errors="replace")

    def configmap_keys(self, namespace: str, name: str) -> list[str]:
        cm = self._call(f"read configmap {namespace}/{name}",
                        self.core.read_namespaced_config_map, name, namespace, read=True)
        return sorted({*(cm.data or {}).keys(), *(cm.binary_data or {}).keys()})

    # --- end secrets helpers -----------------------------------------------------------

    def write_secret_key(self, namespace: str, name: str, key: str, value: str | bytes,
                         create: bool = False) -> dict:
        """Set one key, keeping the others: a PUT carrying the resourceVersion just read, so
        a concurrent writer makes this fail with ``conflict`` instead of losing a key.
        Returns metadata and key names only, never values."""
        raw = value.encode() if isinstance(value, str) else value
        encoded = base64.b64encode(raw).decode()
        doing = f"write key {key} of secret {namespace}/{name}"
        try:
            secret = self._dict(self._call(doing, self.core.read_namespaced_secret, name,
                                           namespace, read=True))
        except KubeError as exc:
            if exc.kind != "not_found" or not create:
                raise
            secret = self._dict(self._call(doing, self.core.create_namespaced_secret, namespace,
                                           {"metadata": {"name": name}, "type": "Opaque",
                                            "data": {key: encoded}}))
        else:
            secret.setdefault("data", {})
            secret["data"] = {**(secret["data"] or {}), key: encoded}
            secret = self._dict(self._call(doing, self.core.replace_namespaced_secret, name,
                                           namespace, secret))
        return {"name": name, "namespace": namespace,
                "resourceVersion": secret["metadata"]["resourceVersion"],
                "keys": sorted((secret.get("data") or {}).keys())}

    def workloads_using_secret(self, namespace: str, secret: str) -> list[dict]:
        """Deployments that read ``secret`` through env, envFrom or volumes, and how."""
        out = []
        for dep in self.find_deployments(namespace):
            pod_spec = dep["spec"]["template"].get("spec") or {}
            uses = []
            for c in (pod_spec.get("initContainers") or []) + (pod_spec.get("containers") or []):
                for e in c.get("env") or []:
                    ref = (e.get("valueFrom") or {}).get("secretKeyRef") or {}
                    if ref.get("name") == secret:
                        uses.append(f"container {c['name']} env {e['name']} "
                                    f"(key {ref.get('key')})")
                for e in c.get("envFrom") or []:
                    if (e.get("secretRef") or {}).get("name") == secret:
                        uses.append(f"container {c['name']} envFrom")
            for v in pod_spec.get("volumes") or []:
                sources = [(v.get("secret") or {}).get("secretName")] + [
                    (s.get("secret") or {}).get("name")
                    for s in (v.get("projected") or {}).get("sources") or []]
                if secret in sources:
                    uses.append(f"volume {v['name']}")
            if uses:
                out.append({"kind": "Deployment", "name": dep["metadata"]["name"],
                            "uses": uses})
        return out

    # --- platform services (issue 18): what runs in a namespace, a service's own health --

    def find_stateful_sets(self, namespace: str) -> list[dict]:
        result = self._call(f"list statefulsets in namespace {namespace}",
                            self.apps.list_namespaced_stateful_set, namespace, read=True)
        return [self._dict(s) for s in result.items]

    def find_pods(self, namespace: str) -> list[dict]:
        result = self._call(f"list pods in namespace {namespace}",
                            self.core.list_namespaced_pod, namespace, read=True)
        return [self._dict(p) for p in result.items]

    def find_volume_claims(self, namespace: str) -> list[dict]:
        result = self._call(f"list persistentvolumeclaims in namespace {namespace}",
                            self.core.list_namespaced_persistent_volume_claim, namespace,
                            read=True)
        return [self._dict(c) for c in result.items]

    def service_get(self, namespace: str, service: str, port: int, path: str,
                    max_bytes: int = 64 * 1024) -> tuple[int, str]:
        """GET ``path`` of a Service through the API server's service proxy (reaches the
        in-cluster address from wherever the API server is reachable). Returns (HTTP
        status, the first ``max_bytes`` of the body as text); a status >= 400 from the
        service is returned, not raised. KubeError when the API server cannot be reached."""
        doing = f"get {path} of service {namespace}/{service}:{port}"
        try:
            response = self._call(
                doing, self.core.connect_get_namespaced_service_proxy_with_path,
                f"{service}:{port}", namespace, path.lstrip("/"), _preload_content=False)
        except KubeError as exc:
            if exc.status is not None and exc.kind not in ("unauthorized", "forbidden"):
                return exc.status, exc.message
            raise
        try:
            body = response.read(max_bytes)
        finally:
            response.release_conn()
        return response.status, body.decode(errors="replace")
