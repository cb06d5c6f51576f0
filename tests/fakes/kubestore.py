"""In-memory object store with apiserver semantics, used by the Kubernetes test server.

Objects are plain dicts. The store sets the server-owned metadata (uid, resourceVersion from
one global counter, creationTimestamp, generation bumped on spec changes only), applies
defaults and a little validation, keeps status behind the status subresource, checks
resourceVersion preconditions and records a bounded event history for watches.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import kubepatch


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Resource:
    plural: str
    kind: str
    group: str = ""
    version: str = "v1"
    namespaced: bool = True
    status: bool = False  # has a status subresource
    generation: bool = False  # metadata.generation tracks spec changes
    custom: bool = False  # CRD: list items keep kind/apiVersion

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """The apiserver's name in messages: ``deployments.apps``, ``secrets``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind


KUBERO_GROUP = "application.kubero.dev"
RESOURCES = {
    r.plural: r
    for r in (
        Resource("namespaces", "Namespace", namespaced=False, status=True),
        Resource("secrets", "Secret"),
        Resource("configmaps", "ConfigMap"),
        Resource("pods", "Pod", status=True),
        Resource("events", "Event"),
        Resource("services", "Service", status=True),
        Resource("deployments", "Deployment", "apps", status=True, generation=True),
        Resource("replicasets", "ReplicaSet", "apps", status=True, generation=True),
        # Stored as given (no controller): enough to check that manifests are accepted.
        Resource("statefulsets", "StatefulSet", "apps", status=True, generation=True),
        Resource("persistentvolumeclaims", "PersistentVolumeClaim", status=True),
        Resource("serviceaccounts", "ServiceAccount"),
        Resource("ingresses", "Ingress", "networking.k8s.io", status=True, generation=True),
        Resource("clusterroles", "ClusterRole", "rbac.authorization.k8s.io", namespaced=False),
        Resource("clusterrolebindings", "ClusterRoleBinding", "rbac.authorization.k8s.io",
                 namespaced=False),
        Resource("roles", "Role", "rbac.authorization.k8s.io"),
        Resource("rolebindings", "RoleBinding", "rbac.authorization.k8s.io"),
        Resource(
            "kuberoapps", "KuberoApp", KUBERO_GROUP, "v1alpha1",
            status=True, generation=True, custom=True,
        ),
    )
}


class ApiError(Exception):
    """An error the server answers with a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict:
        body = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _details(res: Resource, name: str | None, kind: str | None = None) -> dict:
    d: dict[str, Any] = {"kind": kind or res.plural}
    if name:
        d["name"] = name
    if res.group:
        d["group"] = res.group
    return d


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{res.qualified} "{name}" not found', _details(res, name))


def already_exists(res: Resource, name: str) -> ApiError:
    return ApiError(
        409, "AlreadyExists", f'{res.qualified} "{name}" already exists', _details(res, name)
    )


def conflict(res: Resource, name: str) -> ApiError:
    return ApiError(
        409, "Conflict",
        f'Operation cannot be fulfilled on {res.qualified} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        _details(res, name),
    )


def invalid(res: Resource, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """``causes``: (field, reason such as FieldValueRequired, message)."""
    parts = [f"{field}: {msg}" for field, _, msg in causes]
    text = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details = _details(res, name, res.kind)
    details["causes"] = [{"reason": r, "message": m, "field": f} for f, r, m in causes]
    return ApiError(422, "Invalid", f'{res.qualified_kind} "{name}" is invalid: {text}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _validate(res: Resource, obj: dict) -> None:
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    causes: list[tuple[str, str, str]] = []
    if not name:
        causes.append(("metadata.name", "FieldValueRequired", "Required value: name or "
                                                              "generateName is required"))
    elif len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        causes.append(("metadata.name", "FieldValueInvalid",
                       f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist '
                       "of lower case alphanumeric characters, '-' or '.'"))
    for key, value in (meta.get("labels") or {}).items():
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append((f"metadata.labels[{key}]", "FieldValueInvalid",
                           f'Invalid value: "{value}": a valid label must be 63 characters or '
                           "less and consist of alphanumeric characters, '-', '_' or '.'"))
    spec = obj.get("spec") or {}
    if res.plural in ("deployments", "replicasets"):
        selector = spec.get("selector")
        template = spec.get("template") or {}
        if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
            causes.append(("spec.selector", "FieldValueRequired", "Required value"))
        elif not kubepatch.labels_match(
            kubepatch.selector_from_match_labels(selector),
            (template.get("metadata") or {}).get("labels"),
        ):
            causes.append(("spec.template.metadata.labels", "FieldValueInvalid",
                           "Invalid value: `selector` does not match template `labels`"))
        if not isinstance(spec.get("replicas", 1), int) or spec.get("replicas", 1) < 0:
            causes.append(("spec.replicas", "FieldValueInvalid",
                           "Invalid value: must be greater than or equal to 0"))
        _validate_pod_spec(template.get("spec") or {}, "spec.template.spec", causes)
    elif res.plural == "pods":
        _validate_pod_spec(spec, "spec", causes)
    elif res.plural == "secrets":
        for key, value in (obj.get("data") or {}).items():
            try:
                base64.b64decode(value or "", validate=True)
            except (binascii.Error, TypeError, ValueError):
                causes.append((f"data[{key}]", "FieldValueInvalid",
                               "Invalid value: illegal base64 data"))
    if causes:
        raise invalid(res, name, causes)


def _validate_pod_spec(spec: dict, at: str, causes: list) -> None:
    containers = spec.get("containers") or []
    if not containers:
        causes.append((f"{at}.containers", "FieldValueRequired", "Required value"))
    seen = set()
    for i, c in enumerate(containers):
        name = c.get("name") or ""
        if not name:
            causes.append((f"{at}.containers[{i}].name", "FieldValueRequired", "Required value"))
        elif not _DNS_LABEL.match(name) or len(name) > 63:
            causes.append((f"{at}.containers[{i}].name", "FieldValueInvalid",
                           f'Invalid value: "{name}": must be a lowercase RFC 1123 label'))
        elif name in seen:
            causes.append((f"{at}.containers[{i}].name", "FieldValueDuplicate",
                           f'Duplicate value: "{name}"'))
        seen.add(name)
        if not (c.get("image") or "").strip():
            causes.append((f"{at}.containers[{i}].image", "FieldValueRequired", "Required value"))


def _default_pod_spec(spec: dict) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for c in spec.get("containers") or []:
        image = c.get("image") or ""
        latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
        c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})


def _apply_defaults(res: Resource, obj: dict) -> None:
    if res.plural in ("deployments", "replicasets"):
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        if res.plural == "deployments":
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
            spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {
                "maxSurge": "25%", "maxUnavailable": "25%"}})
        _default_pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))
        obj.setdefault("status", {})
    elif res.plural == "pods":
        _default_pod_spec(obj.setdefault("spec", {}))
        obj.setdefault("status", {"phase": "Pending", "qosClass": "BestEffort"})
    elif res.plural == "secrets":
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None) or {}
        data = obj.setdefault("data", {}) if string_data or obj.get("data") is not None else None
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    elif res.plural == "namespaces":
        meta = obj["metadata"]
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj.setdefault("status", {"phase": "Active"})


def _spec_part(res: Resource, obj: dict) -> dict:
    """What counts for metadata.generation: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}


Listener = Callable[[str, str, dict], None]


class Store:
    """Thread-safe object store. Keys are (plural, namespace or "", name)."""

    def __init__(self, history: int = 10000):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._objects: dict[tuple[str, str, str], dict] = {}
        self._rv = 1000
        self._events: deque[tuple[int, str, str, dict]] = deque(maxlen=history)
        self._oldest_rv = self._rv
        self._listeners: list[Listener] = []
        self.closed = False

    # --- reading -----------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def get(self, plural: str, namespace: str | None, name: str) -> dict:
        res = RESOURCES[plural]
        with self.lock:
            obj = self._objects.get((plural, namespace or "" if res.namespaced else "", name))
            if obj is None:
                raise not_found(res, name)
            return copy.deepcopy(obj)

    def find(self, plural: str, namespace: str | None, name: str) -> dict | None:
        try:
            return self.get(plural, namespace, name)
        except ApiError:
            return None

    def list(
        self, plural: str, namespace: str | None = None, label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict], str]:
        labels = kubepatch.parse_label_selector(label_selector)
        fields = kubepatch.parse_field_selector(field_selector)
        with self.lock:
            items = [
                copy.deepcopy(obj) for (p, ns, _), obj in sorted(self._objects.items())
                if p == plural and (not namespace or ns == namespace)
                and kubepatch.labels_match(labels, obj["metadata"].get("labels"))
                and kubepatch.fields_match(fields, obj)
            ]
            return items, str(self._rv)

    # --- writing -----------------------------------------------------------------------

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _emit(self, kind: str, plural: str, obj: dict) -> None:
        if len(self._events) == self._events.maxlen:
            self._oldest_rv = self._events[0][0]
        self._events.append((self._rv, kind, plural, copy.deepcopy(obj)))
        self.changed.notify_all()
        for listener in list(self._listeners):
            listener(kind, plural, obj)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _key(self, res: Resource, obj: dict) -> tuple[str, str, str]:
        meta = obj["metadata"]
        return (res.plural, meta.get("namespace", "") if res.namespaced else "", meta["name"])

    def create(self, plural: str, obj: dict, namespace: str | None = None,
               ensure_namespace: bool = False) -> dict:
        res = RESOURCES[plural]
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        with self.lock:
            if res.namespaced:
                namespace = namespace or meta.get("namespace") or "default"
                if meta.get("namespace") and meta["namespace"] != namespace:
                    raise bad_request("the namespace of the provided object does not match "
                                      "the namespace sent on the request")
                meta["namespace"] = namespace
                if ("namespaces", "", namespace) not in self._objects:
                    if not ensure_namespace:
                        raise not_found(RESOURCES["namespaces"], namespace)
                    self.create("namespaces", {"metadata": {"name": namespace}})
            else:
                meta.pop("namespace", None)
            _apply_defaults(res, obj)
            _validate(res, obj)
            key = self._key(res, obj)
            if key in self._objects:
                raise already_exists(res, meta["name"])
            obj["kind"], obj["apiVersion"] = res.kind, res.api_version
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=now_iso(),
                        resourceVersion=self._next_rv())
            if res.generation:
                meta["generation"] = 1
            for k in ("deletionTimestamp", "managedFields", "selfLink"):
                meta.pop(k, None)
            self._objects[key] = obj
            self._emit("ADDED", plural, obj)
            return copy.deepcopy(obj)

    def replace(self, plural: str, namespace: str | None, name: str, obj: dict,
                subresource: str | None = None) -> dict:
        """PUT: a set metadata.resourceVersion must equal the stored one (409 otherwise)."""
        res = RESOURCES[plural]
        with self.lock:
            current = self.get(plural, namespace, name)
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv and rv != current["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            if (obj.get("metadata") or {}).get("name", name) != name:
                raise bad_request("the name of the object does not match the name on the URL")
            return self._update(res, current, obj, subresource)

    def patch(self, plural: str, namespace: str | None, name: str, body: Any,
              content_type: str, subresource: str | None = None) -> dict:
        res = RESOURCES[plural]
        with self.lock:
            current = self.get(plural, namespace, name)
            try:
                if "json-patch" in content_type:
                    patched = kubepatch.json_patch(current, body)
                elif "strategic-merge-patch" in content_type:
                    if res.custom:
                        raise ApiError(415, "UnsupportedMediaType",
                                       "strategic merge patch is not supported for custom "
                                       "resources; use merge patch or JSON patch")
                    patched = kubepatch.strategic_merge_patch(current, body)
                elif "merge-patch" in content_type:
                    patched = kubepatch.merge_patch(current, body)
                else:
                    raise ApiError(415, "UnsupportedMediaType",
                                   f"the body of the request was in an unknown format: "
                                   f"{content_type}")
            except kubepatch.PatchError as exc:
                if exc.code == 422:
                    raise ApiError(422, "Invalid", "the server rejected our request due to an "
                                   "error in our request", {"causes": [{"message": str(exc)}]})
                raise bad_request(str(exc))
            if not isinstance(patched, dict):
                raise bad_request("patch result is not an object")
            rv = (patched.get("metadata") or {}).get("resourceVersion")
            if rv and rv != current["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            return self._update(res, current, patched, subresource)

    def mutate(self, plural: str, namespace: str | None, name: str,
               fn: Callable[[dict], dict | None], subresource: str | None = None) -> dict:
        """Atomic read-modify-write without a precondition (controllers, tests)."""
        res = RESOURCES[plural]
        with self.lock:
            current = self.get(plural, namespace, name)
            work = copy.deepcopy(current)
            result = fn(work)
            return self._update(res, current, work if result is None else result, subresource)

    def _update(self, res: Resource, old: dict, new: dict, subresource: str | None) -> dict:
        new = copy.deepcopy(new)
        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is not None:
                new["status"] = status
        elif subresource:
            raise not_found(res, f'{old["metadata"]["name"]}/{subresource}')
        elif res.status and "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        meta = new.setdefault("metadata", {})
        old_meta = old["metadata"]
        for k in ("uid", "creationTimestamp", "name", "namespace", "generation"):
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        new["kind"], new["apiVersion"] = res.kind, res.api_version
        _apply_defaults(res, new)
        _validate(res, new)
        if res.generation and _spec_part(res, new) != _spec_part(res, old):
            meta["generation"] = old_meta.get("generation", 1) + 1
        if new == old:
            return new  # a no-op write keeps the resourceVersion and sends no event
        meta["resourceVersion"] = self._next_rv()
        self._objects[self._key(res, new)] = new
        self._emit("MODIFIED", res.plural, new)
        return copy.deepcopy(new)

    def delete(self, plural: str, namespace: str | None, name: str) -> dict:
        res = RESOURCES[plural]
        with self.lock:
            obj = self.get(plural, namespace, name)
            del self._objects[self._key(res, obj)]
            if plural == "namespaces":
                for key in [k for k in self._objects if k[1] == name]:
                    gone_obj = self._objects.pop(key)
                    self._next_rv()
                    gone_obj["metadata"]["resourceVersion"] = str(self._rv)
                    self._emit("DELETED", key[0], gone_obj)
                obj["metadata"]["deletionTimestamp"] = now_iso()
                obj["status"] = {"phase": "Terminating"}
            obj["metadata"]["resourceVersion"] = self._next_rv()
            self._emit("DELETED", plural, obj)
            return obj

    def apply(self, plural: str, obj: dict) -> dict:
        """Test helper: create (making the namespace if needed) or overwrite an object."""
        res = RESOURCES[plural]
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace", "default") if res.namespaced else None
        with self.lock:
            if self.find(plural, ns, meta["name"]) is None:
                return self.create(plural, obj, ns, ensure_namespace=True)
            return self.replace(plural, ns, meta["name"], {**obj, "metadata": {
                k: v for k, v in meta.items() if k != "resourceVersion"}})

    # --- watching ----------------------------------------------------------------------

    def events_since(self, rv: int, plural: str, namespace: str | None) -> list[tuple]:
        with self.lock:
            if rv < self._oldest_rv:
                raise gone(f"too old resource version: {rv} ({self._oldest_rv})")
            return [
                e for e in self._events
                if e[0] > rv and e[2] == plural
                and (not namespace or e[3]["metadata"].get("namespace") == namespace)
            ]

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.changed.notify_all()
