"""A moto S3 server on 127.0.0.1 for tests, behind a fault-injecting HTTP proxy.

    with S3TestServer() as srv:
        settings = S3Settings(bucket="b", endpoint_url=srv.endpoint_url,
                              access_key="test", secret_key="test", max_attempts=1)
        srv.fail_upload_part(status=507, times=None)   # every UploadPart answers 507
        srv.corrupt_get("backups/x.dump.zst")         # flip a byte in that object's GET body
        srv.corrupt_get("backups/x.dump.zst", skip=1) # ... in every GET but the first
        srv.delay_upload_part(0.5)                     # slow every UploadPart (mid-stream tests)
        srv.slow_get("backups/x.dump.zst", 0.02)      # a slow download (mid-restore tests)
        srv.reset()                                    # empty moto and drop all fault rules

``endpoint_url`` goes through the proxy; ``direct_url`` talks to moto itself. A rule with
``times=None`` fires forever (so boto3 retries cannot hide it); ``times=n`` fires n times.
Each rule counts how often it fired (``rule.fired``).
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from moto.server import ThreadedMotoServer

_ERROR_CODES = {500: "InternalError", 503: "SlowDown", 507: "InsufficientStorage"}
_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


@dataclass
class FaultRule:
    kind: str  # "upload_part" | "corrupt_get" | "delay_upload_part" | "slow_get"
    status: int = 500
    delay: float = 0.0  # seconds, for delay_upload_part (per request) / slow_get (per 256 KiB)
    key: str | None = None  # object key (without bucket) for corrupt_get
    times: int | None = 1  # None = forever
    skip: int = 0  # let this many matching requests through untouched first
    fired: int = 0

    def take(self) -> bool:
        if self.skip > 0:
            self.skip -= 1
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        self.fired += 1
        return True


@dataclass
class _Faults:
    rules: list[FaultRule] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def match(self, kind: str, key: str | None = None) -> FaultRule | None:
        with self.lock:
            for rule in self.rules:
                if rule.kind == kind and (rule.key is None or rule.key == key) and rule.take():
                    return rule
        return None


def _object_key(path: str) -> str:
    """``/bucket/some/key`` (path-style) -> ``some/key``."""
    parts = urllib.parse.unquote(path).lstrip("/").split("/", 1)
    return parts[1] if len(parts) > 1 else ""


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_error(self, status: int) -> None:
        code = _ERROR_CODES.get(status, "InternalError")
        body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>injected fault</Message><RequestId>fault</RequestId></Error>").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        body = self._read_body()
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        faults = self.server.faults
        if self.command == "PUT" and "partNumber" in query and "uploadId" in query:
            slow = faults.match("delay_upload_part")
            if slow:
                time.sleep(slow.delay)
            rule = faults.match("upload_part")
            if rule:
                self._send_error(rule.status)
                return
        corrupt = slow = None
        if self.command == "GET" and not url.query.startswith(("list", "versions", "uploads")):
            corrupt = faults.match("corrupt_get", _object_key(url.path))
            slow = faults.match("slow_get", _object_key(url.path))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))  # body forwarded byte for byte
        conn = http.client.HTTPConnection(*self.server.upstream, timeout=120)
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            self.send_response(resp.status, resp.reason)
            length = resp.getheader("Content-Length")
            data = None if length is not None or self.command == "HEAD" else resp.read()
            for k, v in resp.getheaders():
                if k.lower() not in _HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", length if data is None else str(len(data)))
            self.end_headers()
            if self.command == "HEAD":
                return
            if data is not None:
                self.wfile.write(self._corrupt(data, 0) if corrupt else data)
                return
            remaining, offset = int(length), 0
            while remaining > 0:
                chunk = resp.read(min(remaining, 256 * 1024))
                if not chunk:
                    break
                remaining -= len(chunk)
                if corrupt:
                    chunk = self._corrupt(chunk, offset, int(length))
                if slow:
                    time.sleep(slow.delay)
                offset += len(chunk)
                self.wfile.write(chunk)
        finally:
            conn.close()

    @staticmethod
    def _corrupt(chunk: bytes, offset: int, total: int | None = None) -> bytes:
        """Flip one byte in the middle of the whole body."""
        total = len(chunk) if total is None else total
        target = total // 2
        if offset <= target < offset + len(chunk):
            b = bytearray(chunk)
            b[target - offset] ^= 0xFF
            return bytes(b)
        return chunk

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    upstream: tuple[str, int]
    faults: _Faults


class S3TestServer:
    """moto ``ThreadedMotoServer`` on a free port plus a fault proxy on another free port."""

    def __init__(self) -> None:
        self._moto: ThreadedMotoServer | None = None
        self._proxy: _ProxyServer | None = None
        self._proxy_thread: threading.Thread | None = None
        self.faults = _Faults()

    def start(self) -> S3TestServer:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request lines
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        self._proxy = _ProxyServer(("127.0.0.1", 0), _ProxyHandler)
        self._proxy.upstream = self._moto.get_host_and_port()
        self._proxy.faults = self.faults
        self._proxy_thread = threading.Thread(target=self._proxy.serve_forever, daemon=True,
                                              name="s3-fault-proxy")
        self._proxy_thread.start()
        return self

    def stop(self) -> None:
        if self._proxy:
            self._proxy.shutdown()
            self._proxy.server_close()
            self._proxy = None
        if self._moto:
            self._moto.stop()
            self._moto = None

    def __enter__(self) -> S3TestServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def direct_url(self) -> str:
        assert self._moto, "start() first"
        host, port = self._moto.get_host_and_port()
        return f"http://{host}:{port}"

    @property
    def endpoint_url(self) -> str:
        assert self._proxy, "start() first"
        host, port = self._proxy.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self) -> None:
        """Forget all buckets/objects in moto and drop every fault rule."""
        self.clear_faults()
        url = self.direct_url + "/moto-api/reset"
        req = urllib.request.Request(url, method="POST")  # noqa: S310 - our local http URL
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            resp.read()

    # -- fault rules -----------------------------------------------------------------------------
    def _add(self, rule: FaultRule) -> FaultRule:
        with self.faults.lock:
            self.faults.rules.append(rule)
        return rule

    def fail_upload_part(self, status: int = 500, times: int | None = 1) -> FaultRule:
        """UploadPart requests answer ``status`` (500 InternalError, 507 InsufficientStorage)."""
        return self._add(FaultRule("upload_part", status=status, times=times))

    def delay_upload_part(self, seconds: float, times: int | None = None) -> FaultRule:
        """UploadPart requests are held ``seconds`` before being forwarded (a slow network)."""
        return self._add(FaultRule("delay_upload_part", delay=seconds, times=times))

    def corrupt_get(self, key: str, times: int | None = None, skip: int = 0) -> FaultRule:
        """GETs of object ``key`` return the body with one byte flipped (same length); the
        first ``skip`` GETs of it are left intact (fail a later read of the same object)."""
        return self._add(FaultRule("corrupt_get", key=key, times=times, skip=skip))

    def slow_get(self, key: str, per_chunk: float, times: int | None = None) -> FaultRule:
        """GETs of object ``key`` are streamed with a pause of ``per_chunk`` s every 256 KiB."""
        return self._add(FaultRule("slow_get", key=key, delay=per_chunk, times=times))

    def clear_faults(self) -> None:
        with self.faults.lock:
            self.faults.rules.clear()
