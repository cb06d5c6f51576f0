"""A test controller for the Kubernetes test server: rolls Deployments the way the real
deployment controller reports it, and plays a Kubero-like operator for KuberoApps.

Modes, chosen per Deployment (by name, owner name, namespace or labels; the latest rule wins):

- ``complete``: after ``delay`` s, replaces old pods by new ready ones, one per ``step`` s
  (``step=0``: all at once), then reports Available=True and Progressing=True
  (NewReplicaSetAvailable).
- ``stall``: observes the new generation, starts one new pod that never gets ready
  (ImagePullBackOff); after progressDeadlineSeconds (or ``deadline``) reports
  Progressing=False (ProgressDeadlineExceeded).
- ``fail``: one crash-looping new pod and ProgressDeadlineExceeded at once.
- ``manual``: like ``complete`` but each pod replacement waits for ``advance()``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field

from .kubepatch import labels_match, parse_label_selector, selector_from_match_labels
from .kubestore import KUBERO_GROUP, ApiError, Store, now_iso

log = logging.getLogger(__name__)
MODES = ("complete", "stall", "fail", "manual")
KUBERO_CONTAINER = "kuberoapp-web"


@dataclass
class Mode:
    mode: str = "complete"
    delay: float = 0.0
    step: float = 0.0
    deadline: float | None = None  # seconds; overrides spec.progressDeadlineSeconds


@dataclass
class _Rule:
    name: str | None
    namespace: str | None
    labels: list
    mode: Mode
    image: str | None = None  # only while some container of the template runs this image


@dataclass
class _Rollout:
    hash: str
    started: float
    next_at: float
    revision: int
    manual_steps: int = 0
    extra: dict = field(default_factory=dict)


def template_hash(template: dict) -> str:
    import json

    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return digest[:10]


def _max_unavailable(desired: int, strategy: dict) -> int:
    value = ((strategy or {}).get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return desired * int(value[:-1]) // 100
    return int(value)


def _pod_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def pod_status(containers: list[dict], healthy: bool, waiting: str = "ImagePullBackOff",
               restarts: int = 0) -> dict:
    now = now_iso()
    statuses = []
    for c in containers:
        image = c.get("image", "")
        digest = hashlib.sha256(image.encode()).hexdigest()
        st = {"name": c["name"], "image": image, "imageID": f"{image.split(':')[0]}@sha256:"
              f"{digest}", "ready": healthy, "restartCount": restarts, "started": healthy}
        if healthy:
            st["containerID"] = f"containerd://{secrets.token_hex(32)}"
            st["state"] = {"running": {"startedAt": now}}
        else:
            st["state"] = {"waiting": {"reason": waiting, "message": f"{waiting}: {image}"}}
        statuses.append(st)
    flag = "True" if healthy else "False"
    return {
        "phase": "Running" if healthy else "Pending",
        "conditions": [{"type": t, "status": s, "lastProbeTime": None,
                        "lastTransitionTime": now}
                       for t, s in (("Initialized", "True"), ("Ready", flag),
                                    ("ContainersReady", flag), ("PodScheduled", "True"))],
        "hostIP": "10.0.0.10", "podIP": f"10.244.0.{secrets.randbelow(250) + 2}",
        "startTime": now, "containerStatuses": statuses, "qosClass": "BestEffort",
    }


class KubeController:
    def __init__(self, store: Store, mode: str = "complete", delay: float = 0.0,
                 step: float = 0.0, deadline: float | None = None):
        self.store = store
        self.default = Mode(mode, delay, step, deadline)
        self._rules: list[_Rule] = []
        self._rollouts: dict[tuple[str, str], _Rollout] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        store.subscribe(self._on_event)

    # --- test-facing API ---------------------------------------------------------------

    def set_mode(self, name: str | None = None, mode: str = "complete", *,
                 namespace: str | None = None, labels: str | None = None, delay: float = 0.0,
                 step: float = 0.0, deadline: float | None = None,
                 image: str | None = None) -> None:
        """Rule for Deployments named ``name`` (or owned by a KuberoApp of that name),
        optionally limited to a namespace, a label selector, or templates that run
        ``image`` (a "broken image": rolling back to another image completes, as on a real
        cluster). Later rules win."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        with self._lock:
            self._rules.append(_Rule(name, namespace, parse_label_selector(labels),
                                     Mode(mode, delay, step, deadline), image))
        self.kick()

    def clear_modes(self) -> None:
        with self._lock:
            self._rules.clear()
        self.kick()

    def advance(self, namespace: str, name: str, steps: int = 1) -> None:
        """In ``manual`` mode, let the rollout of ``namespace/name`` replace ``steps`` pods."""
        with self._lock:
            st = self._rollouts.get((namespace, name))
            if st is not None:
                st.manual_steps += steps
        self.kick()

    def kick(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="kube-test-controller",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def sync(self) -> float | None:
        """One reconcile pass over everything; returns seconds until work is due again."""
        with self._lock:
            due: list[float] = []
            apps, _ = self.store.list("kuberoapps")
            for app in apps:
                self._reconcile_app(app)
            deployments, _ = self.store.list("deployments")
            for dep in deployments:
                when = self._reconcile_deployment(dep)
                if when is not None:
                    due.append(when)
            self._collect_garbage(deployments)
            return max(min(due) - time.monotonic(), 0.0) if due else None

    # --- loop --------------------------------------------------------------------------

    def _on_event(self, kind: str, plural: str, obj: dict) -> None:
        if plural in ("deployments", "kuberoapps") or kind == "DELETED":
            self._wake.set()

    def _run(self) -> None:
        wait: float | None = 0.0
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0 if wait is None else min(wait, 1.0))
            self._wake.clear()
            if self._stop.is_set() or self.store.closed:
                return
            try:
                wait = self.sync()
            except ApiError as exc:  # raced with a test's write; try again shortly
                log.debug("controller retry: %s", exc.message)
                wait = 0.05
            except Exception:
                log.exception("kube test controller failed")
                wait = 0.5

    def _mode_for(self, dep: dict) -> Mode:
        meta = dep["metadata"]
        owners = {o.get("name") for o in meta.get("ownerReferences") or []}
        for rule in reversed(self._rules):
            if rule.name is not None and rule.name != meta["name"] and rule.name not in owners:
                continue
            if rule.namespace is not None and rule.namespace != meta["namespace"]:
                continue
            if rule.labels and not labels_match(rule.labels, meta.get("labels")):
                continue
            if rule.image is not None and rule.image not in {
                    c.get("image") for c in dep["spec"]["template"]["spec"]["containers"]}:
                continue
            return rule.mode
        return self.default

    # --- deployments -------------------------------------------------------------------

    def _reconcile_deployment(self, dep: dict) -> float | None:
        meta, spec = dep["metadata"], dep["spec"]
        ns, name, now = meta["namespace"], meta["name"], time.monotonic()
        desired = spec.get("replicas", 1)
        template = spec["template"]
        h = template_hash(template)
        mode = self._mode_for(dep)
        st = self._rollouts.get((ns, name))
        if st is None or st.hash != h:
            revision = (st.revision + 1) if st else 1
            st = _Rollout(h, now, now + mode.delay, revision)
            self._rollouts[(ns, name)] = st
            annotations = meta.get("annotations") or {}
            if annotations.get("deployment.kubernetes.io/revision") != str(revision):
                def set_revision(d: dict, rev: str = str(revision)) -> None:
                    d["metadata"].setdefault("annotations", {})[
                        "deployment.kubernetes.io/revision"] = rev
                self.store.mutate("deployments", ns, name, set_revision)
        rs = self._ensure_replicaset(dep, h, desired)
        selector = selector_from_match_labels(spec.get("selector"))
        pods = [p for p in self.store.list("pods", ns)[0]
                if labels_match(selector, p["metadata"].get("labels"))]
        new = [p for p in pods if p["metadata"]["labels"].get("pod-template-hash") == h]
        old = [p for p in pods if p not in new]
        deadline = mode.deadline if mode.deadline is not None else spec.get(
            "progressDeadlineSeconds", 600)
        due: float | None = None
        if mode.mode in ("complete", "manual"):
            while (len(new) != desired or old) and (
                    (mode.mode == "complete" and now >= st.next_at)
                    or (mode.mode == "manual" and st.manual_steps > 0)):
                if len(new) < desired:
                    new.append(self._create_pod(dep, rs, h, True))
                elif len(new) > desired:
                    self.store.delete("pods", ns, new.pop()["metadata"]["name"])
                if old:
                    self.store.delete("pods", ns, old.pop()["metadata"]["name"])
                st.manual_steps = max(st.manual_steps - 1, 0)
                st.next_at = now + mode.step
                if mode.step > 0:
                    break
            if mode.mode == "complete" and (len(new) != desired or old):
                due = st.next_at
        elif not new and desired > 0:
            waiting = "CrashLoopBackOff" if mode.mode == "fail" else "ImagePullBackOff"
            new.append(self._create_pod(dep, rs, h, False, waiting))
        exceeded = mode.mode == "fail" or (
            mode.mode == "stall" and now - st.started >= deadline)
        if mode.mode == "stall" and not exceeded:
            due = st.started + deadline
        self._write_status(dep, rs, new, new + old, desired, exceeded)
        return due

    def _ensure_replicaset(self, dep: dict, h: str, desired: int) -> dict:
        meta = dep["metadata"]
        name = f"{meta['name']}-{h}"
        rs = self.store.find("replicasets", meta["namespace"], name)
        if rs is not None:
            return rs
        template = {**dep["spec"]["template"]}
        template["metadata"] = {**(template.get("metadata") or {})}
        template["metadata"]["labels"] = {**template["metadata"].get("labels", {}),
                                          "pod-template-hash": h}
        selector = {"matchLabels": {**(dep["spec"]["selector"].get("matchLabels") or {}),
                                    "pod-template-hash": h}}
        return self.store.create("replicasets", {
            "metadata": {"name": name, "namespace": meta["namespace"],
                         "labels": template["metadata"]["labels"],
                         "ownerReferences": [self._owner("apps/v1", "Deployment", dep)]},
            "spec": {"replicas": desired, "selector": selector, "template": template},
        }, meta["namespace"])

    @staticmethod
    def _owner(api_version: str, kind: str, obj: dict) -> dict:
        return {"apiVersion": api_version, "kind": kind, "name": obj["metadata"]["name"],
                "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}

    def _create_pod(self, dep: dict, rs: dict, h: str, healthy: bool,
                    waiting: str = "ImagePullBackOff") -> dict:
        template = dep["spec"]["template"]
        tmeta = template.get("metadata") or {}
        spec = {**template["spec"], "nodeName": "kubetest-node"}
        pod = {
            "metadata": {
                "name": f"{rs['metadata']['name']}-{secrets.token_hex(3)[:5]}",
                "labels": {**(tmeta.get("labels") or {}), "pod-template-hash": h},
                "annotations": dict(tmeta.get("annotations") or {}),
                "ownerReferences": [self._owner("apps/v1", "ReplicaSet", rs)],
            },
            "spec": spec,
            "status": pod_status(spec["containers"], healthy, waiting,
                                 3 if waiting == "CrashLoopBackOff" else 0),
        }
        return self.store.create("pods", pod, dep["metadata"]["namespace"])

    def _write_status(self, dep: dict, rs: dict, new: list, pods: list, desired: int,
                      exceeded: bool) -> None:
        ready = sum(1 for p in pods if _pod_ready(p))
        updated = len(new)
        status: dict = {"observedGeneration": dep["metadata"].get("generation", 1),
                        "replicas": len(pods), "updatedReplicas": updated,
                        "readyReplicas": ready, "availableReplicas": ready,
                        "unavailableReplicas": max(desired - ready, 0)}
        status = {k: v for k, v in status.items() if v or k == "observedGeneration"}
        rs_name = rs["metadata"]["name"]
        minimum = desired - _max_unavailable(desired, dep["spec"].get("strategy", {}))
        complete = updated == desired and len(pods) == desired and ready == desired
        if ready >= minimum:
            available = ("True", "MinimumReplicasAvailable", "Deployment has minimum "
                         "availability.")
        else:
            available = ("False", "MinimumReplicasUnavailable", "Deployment does not have "
                         "minimum availability.")
        if complete:
            progressing = ("True", "NewReplicaSetAvailable",
                           f'ReplicaSet "{rs_name}" has successfully progressed.')
        elif exceeded:
            progressing = ("False", "ProgressDeadlineExceeded",
                           f'ReplicaSet "{rs_name}" has timed out progressing.')
        else:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        old_conditions = {c["type"]: c for c in (dep.get("status") or {}).get("conditions") or []}
        conditions = []
        for ctype, (flag, reason, message) in (("Available", available),
                                               ("Progressing", progressing)):
            prev = old_conditions.get(ctype)
            if prev and (prev["status"], prev["reason"], prev["message"]) == (flag, reason,
                                                                              message):
                conditions.append(prev)
                continue
            now = now_iso()
            changed = not prev or prev["status"] != flag
            conditions.append({"type": ctype, "status": flag, "lastUpdateTime": now,
                               "lastTransitionTime": now if changed else prev[
                                   "lastTransitionTime"], "reason": reason, "message": message})
        status["conditions"] = conditions
        if status != dep.get("status"):
            meta = dep["metadata"]
            self.store.mutate("deployments", meta["namespace"], meta["name"],
                              lambda d: {**d, "status": status}, subresource="status")
        rs_status = {"replicas": updated, "readyReplicas": sum(1 for p in new if _pod_ready(p)),
                     "observedGeneration": rs["metadata"].get("generation", 1)}
        rs_status["availableReplicas"] = rs_status["readyReplicas"]
        rs_status = {k: v for k, v in rs_status.items() if v or k == "replicas"}
        if rs.get("status") != rs_status:
            self.store.mutate("replicasets", rs["metadata"]["namespace"], rs["metadata"]["name"],
                              lambda r: {**r, "status": rs_status}, subresource="status")

    def _collect_garbage(self, deployments: list[dict]) -> None:
        live = {d["metadata"]["uid"] for d in deployments}
        replicasets, _ = self.store.list("replicasets")
        for rs in replicasets:
            owners = {o["uid"] for o in rs["metadata"].get("ownerReferences") or []}
            if owners and not owners & live:
                self.store.delete("replicasets", rs["metadata"]["namespace"],
                                  rs["metadata"]["name"])
        live_rs = {rs["metadata"]["uid"] for rs in self.store.list("replicasets")[0]}
        for pod in self.store.list("pods")[0]:
            owners = {o["uid"] for o in pod["metadata"].get("ownerReferences") or []
                      if o.get("kind") == "ReplicaSet"}
            if owners and not owners & live_rs:
                self.store.delete("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
        apps = {a["metadata"]["uid"] for a in self.store.list("kuberoapps")[0]}
        for dep in deployments:
            owners = {o["uid"] for o in dep["metadata"].get("ownerReferences") or []
                      if o.get("kind") == "KuberoApp"}
            if owners and not owners & apps:
                self.store.delete("deployments", dep["metadata"]["namespace"],
                                  dep["metadata"]["name"])
                self._rollouts.pop((dep["metadata"]["namespace"], dep["metadata"]["name"]),
                                   None)

    # --- Kubero-like operator ----------------------------------------------------------

    def _reconcile_app(self, app: dict) -> None:
        meta, spec = app["metadata"], app.get("spec") or {}
        ns, name = meta["namespace"], meta["name"]
        image_spec = spec.get("image") or {}
        repository = image_spec.get("repository")
        if not repository:
            return
        image = f"{repository}:{image_spec.get('tag') or 'latest'}"
        replicas = int((spec.get("web") or {}).get("replicaCount", 1))
        dep_name = f"{name}-kuberoapp-web"
        selector = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name}
        labels = {**selector, "app.kubernetes.io/managed-by": "kubero"}
        # Like Kubero's chart: spec.envVars becomes the web container's env.
        env = [dict(e) for e in spec.get("envVars") or [] if isinstance(e, dict)]
        dep = self.store.find("deployments", ns, dep_name)
        if dep is None:
            self.store.create("deployments", {
                "metadata": {"name": dep_name, "labels": labels, "ownerReferences": [
                    self._owner(f"{KUBERO_GROUP}/v1alpha1", "KuberoApp", app)]},
                "spec": {"replicas": replicas, "selector": {"matchLabels": selector},
                         "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                             {"name": KUBERO_CONTAINER, "image": image,
                              **({"env": env} if env else {}),
                              "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]}}},
            }, ns)
        else:
            containers = dep["spec"]["template"]["spec"]["containers"]
            current = next((c for c in containers if c["name"] == KUBERO_CONTAINER), None)
            if (current and (current.get("image") != image
                             or (current.get("env") or []) != env)) or \
                    dep["spec"].get("replicas") != replicas:
                def propagate(d: dict) -> None:
                    d["spec"]["replicas"] = replicas
                    for c in d["spec"]["template"]["spec"]["containers"]:
                        if c["name"] == KUBERO_CONTAINER:
                            c["image"] = image
                            if env:
                                c["env"] = env
                            else:
                                c.pop("env", None)
                self.store.mutate("deployments", ns, dep_name, propagate)
        deployed = {"conditions": [{"type": "Deployed", "status": "True",
                                    "reason": "UpgradeSuccessful", "message": image}]}
        if (app.get("status") or {}).get("conditions") != deployed["conditions"]:
            self.store.mutate("kuberoapps", ns, name, lambda a: {**a, "status": deployed},
                              subresource="status")
