"""A small, faithful Kubernetes API server over real HTTP for tests, benchmarks and journeys.

    with KubeTestServer() as srv:
        client = kubernetes.config.new_client_from_config_dict(yaml.safe_load(srv.kubeconfig()))
        srv.store.apply("deployments", {...})          # seed objects directly
        srv.controller.set_mode("web", "stall")        # drive rollouts
        srv.fail_next(2, status=500, path="/deployments/")  # fault injection
        srv.forbid_namespace("prod")                   # RBAC denial
        srv.requests                                   # what arrived, and when

Core v1 (namespaces, secrets, configmaps, pods, events, services), apps/v1 (deployments,
replicasets) and application.kubero.dev/v1alpha1 kuberoapps: create/get/list/replace/patch
(strategic, merge, JSON)/delete, status subresources, label and field selectors, watches
with timeoutSeconds, Status objects for errors, discovery. Objects live in ``kubestore``.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from .kubecontroller import KubeController
from .kubepatch import (
    SelectorError,
    fields_match,
    labels_match,
    parse_field_selector,
    parse_label_selector,
)
from .kubestore import RESOURCES, ApiError, Resource, Store, bad_request

log = logging.getLogger(__name__)
VERSION_INFO = {"major": "1", "minor": "33", "gitVersion": "v1.33.0-kubetest",
                "platform": "linux/amd64"}
_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    time: float  # time.time() when the request arrived
    content_type: str = ""
    status: int | None = None


@dataclass
class Fault:
    count: int
    status: int | None = 500
    method: str | None = None
    path: str | None = None  # a regular expression searched in the request path
    hang: float = 0.0
    hits: int = field(default=0)

    def matches(self, method: str, path: str) -> bool:
        return (self.count > 0 and (self.method is None or self.method.upper() == method)
                and (self.path is None or re.search(self.path, path) is not None))


@dataclass
class Route:
    res: Resource | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    discovery: Any = None


class KubeTestServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str = "kubetest-token",  # noqa: S107
                 require_auth: bool = True, controller: bool = True, user: str = "portal",
                 **controller_options: Any):
        self.host, self.port, self.token, self.require_auth = host, port, token, require_auth
        self.user = user
        self.store = Store()
        self.controller = KubeController(self.store, **controller_options)
        self._run_controller = controller
        self._lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._faults: list[Fault] = []
        self._forbidden: dict[str, set[str] | None] = {}
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> KubeTestServer:
        handler = type("Handler", (_Handler,), {"kube": self})
        self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={
            "poll_interval": 0.1}, name="kube-test-server", daemon=True)
        self._thread.start()
        if self._run_controller:
            self.controller.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.controller.stop()
        self.store.close()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        with self._lock:
            for sock in list(self._connections):  # keep-alive connections die with us
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> KubeTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def kubeconfig(self, namespace: str = "default", token: str | None = None) -> str:
        """A kubeconfig YAML string pointing at this server with a bearer token."""
        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "kubetest", "cluster": {"server": self.url}}],
            "users": [{"name": "kubetest-user", "user": {"token": token or self.token}}],
            "contexts": [{"name": "kubetest", "context": {
                "cluster": "kubetest", "user": "kubetest-user", "namespace": namespace}}],
            "current-context": "kubetest",
        }, sort_keys=False)

    # --- fault injection and inspection ------------------------------------------------

    def fail_next(self, count: int = 1, status: int | None = 500, method: str | None = None,
                  path: str | None = None, hang: float = 0.0) -> Fault:
        """The next ``count`` matching requests wait ``hang`` s, then answer ``status``
        (a Status object); ``status=None`` means answer normally after the wait."""
        fault = Fault(count, status, method, path, hang)
        with self._lock:
            self._faults.append(fault)
        return fault

    def hang_next(self, seconds: float, count: int = 1, method: str | None = None,
                  path: str | None = None) -> Fault:
        return self.fail_next(count, None, method, path, hang=seconds)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def forbid_namespace(self, namespace: str, verbs: set[str] | None = None) -> None:
        """Answer 403 Forbidden for requests in ``namespace`` (all verbs, or just these)."""
        self._forbidden[namespace] = set(verbs) if verbs else None

    def allow_namespace(self, namespace: str) -> None:
        self._forbidden.pop(namespace, None)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def requests_matching(self, method: str | None = None, path: str | None = None
                          ) -> list[RequestRecord]:
        return [r for r in self.requests if (method is None or r.method == method.upper())
                and (path is None or re.search(path, r.path))]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    fault.hits += 1
                    return fault
        return None


def _route(path: str) -> Route:
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        group, version, rest = "", parts[1] if len(parts) > 1 else None, parts[2:]
    elif parts[:1] == ["apis"]:
        group = parts[1] if len(parts) > 1 else None
        version, rest = (parts[2] if len(parts) > 2 else None), parts[3:]
    else:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    if version is None or group is None:
        return Route(discovery=("root", group))
    known = {r.plural: r for r in RESOURCES.values()
             if r.group == group and r.version == version}
    if not known:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    if not rest:
        return Route(discovery=("resources", (group, version, known)))
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] in known:
        namespace, rest = rest[1], rest[2:]
    res = known.get(rest[0])
    if res is None or len(rest) > 3 or (res.namespaced and len(rest) > 1 and namespace is None):
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if res.plural == "namespaces" and name:
        namespace = name
    return Route(res, namespace, name, sub)


def _discovery(kind: str, arg: Any, host: str) -> dict:
    if kind == "root" and arg == "":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}
    if kind == "root":
        groups: dict[str, str] = {}
        for r in RESOURCES.values():
            if r.group:
                groups[r.group] = r.version
        items = [{"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                  "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}}
                 for g, v in groups.items()]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": items}
    group, version, known = arg
    resources = []
    for r in known.values():
        resources.append({"name": r.plural, "singularName": r.kind.lower(),
                          "namespaced": r.namespaced, "kind": r.kind, "verbs": _VERBS})
        if r.status:
            resources.append({"name": f"{r.plural}/status", "singularName": "",
                              "namespaced": r.namespaced, "kind": r.kind,
                              "verbs": ["get", "patch", "update"]})
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": resources}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    kube: KubeTestServer  # set on the subclass made by KubeTestServer.start

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return

    def setup(self) -> None:
        super().setup()
        # As the real apiserver does: without it, a keep-alive answer written as headers
        # then body waits ~40 ms for the client's delayed ACK (Nagle), on every request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.kube._lock:
            self.kube._connections.add(self.connection)

    def finish(self) -> None:
        with self.kube._lock:
            self.kube._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # --- plumbing ----------------------------------------------------------------------

    def _send(self, code: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", str(id(self)))
        self.end_headers()
        self.wfile.write(data)
        self.record.status = code

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        self.record = RequestRecord(self.command, url.path, query, body, time.time(),
                                    content_type)
        with self.kube._lock:
            self.kube._requests.append(self.record)
        try:
            if url.path in ("/healthz", "/readyz", "/livez"):
                return self._send(200, b"ok", "text/plain")
            self._check_auth()
            fault = self.kube._take_fault(self.command, url.path)
            if fault is not None:
                self.kube._stopping.wait(fault.hang)
                if fault.status is not None:
                    raise ApiError(fault.status, "InternalError" if fault.status == 500
                                   else "ServiceUnavailable",
                                   f"Internal error occurred: injected fault ({fault.status})")
            if url.path == "/version":
                return self._send(200, VERSION_INFO)
            if isinstance(body, str):
                raise bad_request("the body of the request is not valid JSON")
            self._dispatch(_route(url.path), query, body, content_type)
        except ApiError as exc:
            self._send(exc.code, exc.status())
        except SelectorError as exc:
            self._send(400, bad_request(str(exc)).status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug in the test server: answer like the apiserver would
            log.exception("kube test server failed on %s %s", self.command, url.path)
            self._send(500, ApiError(500, "InternalError",
                                     f"Internal error occurred: {exc!r}").status())

    def _check_auth(self) -> None:
        if not self.kube.require_auth:
            return
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Bearer ") or not header[7:].strip():
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _check_rbac(self, route: Route, verb: str) -> None:
        ns = route.namespace
        if ns is None or ns not in self.kube._forbidden:
            return
        verbs = self.kube._forbidden[ns]
        if verbs is not None and verb not in verbs:
            return
        res = route.res
        assert res is not None
        what = f'{res.qualified} "{route.name}"' if route.name else res.qualified
        resource = f"{res.plural}/{route.subresource}" if route.subresource else res.plural
        details = {"kind": res.plural, **({"name": route.name} if route.name else {}),
                   **({"group": res.group} if res.group else {})}
        raise ApiError(403, "Forbidden", f'{what} is forbidden: User "{self.kube.user}" cannot '
                       f'{verb} resource "{resource}" in API group "{res.group}" in the '
                       f'namespace "{ns}"', details)

    # --- verbs -------------------------------------------------------------------------

    def _dispatch(self, route: Route, query: dict, body: Any, content_type: str) -> None:
        if route.discovery is not None:
            if self.command != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
            kind, arg = route.discovery
            return self._send(200, _discovery(kind, arg, f"{self.kube.host}:{self.kube.port}"))
        res, store, method = route.res, self.kube.store, self.command
        assert res is not None
        watching = method == "GET" and query.get("watch") in ("true", "1")
        verb = {"GET": "watch" if watching else ("get" if route.name else "list"),
                "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete"}[method]
        self._check_rbac(route, verb)
        if route.subresource and route.subresource != "status":
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if route.subresource and not res.status:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if watching:
            return self._watch(res, route.namespace, query)
        if method == "GET" and route.name:
            return self._send(200, store.get(res.plural, route.namespace, route.name))
        if method == "GET":
            items, rv = store.list(res.plural, route.namespace, query.get("labelSelector"),
                                   query.get("fieldSelector"))
            if not res.custom:
                for item in items:
                    item.pop("kind", None)
                    item.pop("apiVersion", None)
            return self._send(200, {"kind": f"{res.kind}List", "apiVersion": res.api_version,
                                    "metadata": {"resourceVersion": rv}, "items": items})
        if method != "POST" and not route.name:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method "
                           "on the requested resource")
        if method in ("POST", "PUT") and not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        if method == "POST":
            if route.name:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
            if res.plural == "namespaces":
                return self._send(201, store.create("namespaces", body))
            return self._send(201, store.create(res.plural, body, route.namespace))
        if method == "PUT":
            return self._send(200, store.replace(res.plural, route.namespace, route.name, body,
                                                 route.subresource))
        if method == "PATCH":
            return self._send(200, store.patch(res.plural, route.namespace, route.name, body,
                                               content_type, route.subresource))
        old = store.delete(res.plural, route.namespace, route.name)
        if res.plural in ("namespaces", "pods"):
            return self._send(200, old)
        details = {"name": route.name, "kind": res.plural, "uid": old["metadata"]["uid"],
                   **({"group": res.group} if res.group else {})}
        return self._send(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Success", "details": details})

    def _watch(self, res: Resource, namespace: str | None, query: dict) -> None:
        store = self.kube.store
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"))
        try:
            timeout = min(float(query.get("timeoutSeconds") or 1800), 1800.0)
        except ValueError:
            raise bad_request("invalid timeoutSeconds")
        deadline = time.monotonic() + timeout
        rv_param = query.get("resourceVersion") or "0"
        if not rv_param.isdigit():
            raise bad_request(f"invalid resourceVersion {rv_param!r}")
        initial: list[dict] = []
        since = int(rv_param)
        if since == 0:
            initial, rv = store.list(res.plural, namespace)
            since = int(rv)
        try:
            store.events_since(since, res.plural, namespace)
            gone = None
        except ApiError as exc:
            gone = exc
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.record.status = 200

        def emit(kind: str, obj: dict) -> None:
            line = json.dumps({"type": kind, "object": obj}).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()

        try:
            if gone is not None:
                emit("ERROR", gone.status())
            else:
                for obj in initial:
                    if labels_match(labels, obj["metadata"].get("labels")) and \
                            fields_match(fields, obj):
                        emit("ADDED", obj)
                while not store.closed and time.monotonic() < deadline:
                    with store.lock:
                        events = store.events_since(since, res.plural, namespace)
                        if not events:
                            store.changed.wait(min(0.5, max(deadline - time.monotonic(), 0)))
                            continue
                    for rv, kind, _, obj in events:
                        since = rv
                        if labels_match(labels, obj["metadata"].get("labels")) and \
                                fields_match(fields, obj):
                            emit(kind, obj)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except ApiError as exc:  # history compacted while we were watching
            emit("ERROR", exc.status())
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True


def deployment(name: str, image: str = "nginx:1.25", *, namespace: str = "default",
               replicas: int = 1, labels: dict | None = None, containers: list | None = None,
               **spec: Any) -> dict:
    """A minimal valid Deployment manifest for seeding the store or creating through the API;
    pods are selected by ``app=<name>``."""
    match = {"app": name}
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": {**match, **(labels or {})}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": match}, **spec,
                 "template": {"metadata": {"labels": match}, "spec": {
                     "containers": containers or [{"name": name, "image": image}]}}},
    }
