"""Real local receivers for notification tests: an HTTP server taking Apprise's ``json://``
posts, and an aiosmtpd SMTP server taking ``mailto://`` mail.

``JsonReceiver().start()`` listens on 127.0.0.1 (a free port) and takes GET pings too
(``pings``: a heartbeat monitor). ``mode`` switches it between answering 200, answering 500,
hanging (no answer for ``hang_seconds``) and closed (``close()``: connections are refused).
Every body it received is kept in ``messages`` (parsed JSON with the Basic-auth user), and
``wait_for(n)`` waits for n of them.
``SmtpReceiver().start()`` keeps every mail's subject and body in ``messages``.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Handler(BaseHTTPRequestHandler):
    receiver: JsonReceiver

    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        receiver = self.server.receiver  # type: ignore[attr-defined]
        receiver.requests += 1
        if receiver.mode == "hang":
            time.sleep(receiver.hang_seconds)
            return
        if receiver.mode == "500":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b'{"error": "boom"}')
            return
        try:
            doc = json.loads(raw or b"{}")
        except ValueError:
            doc = {"raw": raw.decode(errors="replace")}
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            doc["_auth"] = base64.b64decode(auth[6:]).decode(errors="replace")
        doc["_path"] = self.path
        doc["_at"] = time.monotonic()
        doc["_wall"] = time.time()
        with receiver.lock:
            receiver.messages.append(doc)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def do_GET(self):  # noqa: N802 - a heartbeat ping (healthchecks.io style)
        receiver = self.server.receiver  # type: ignore[attr-defined]
        receiver.requests += 1
        if receiver.mode == "hang":
            time.sleep(receiver.hang_seconds)
            return
        with receiver.lock:
            receiver.pings.append(self.path)
        self.send_response(500 if receiver.mode == "500" else 200)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args):
        pass


class JsonReceiver:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.mode = "ok"
        self.hang_seconds = 30.0
        self.messages: list[dict] = []
        self.pings: list[str] = []
        self.requests = 0
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> JsonReceiver:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        self.server.daemon_threads = True
        self.server.receiver = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def close(self) -> None:
        """Stop listening: connections to the port are refused ("closed")."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def reopen(self) -> JsonReceiver:
        self.mode = "ok"
        return self.start()

    def url(self, path: str = "hook", user: str = "portal", password: str = "") -> str:
        auth = f"{user}:{password}@" if password else ""
        return f"json://{auth}127.0.0.1:{self.port}/{path}"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} message(s) within {timeout}s, got "
                             f"{len(self.messages)}")

    def texts(self) -> list[str]:
        with self.lock:
            return [f"{m.get('title', '')}\n{m.get('message', '')}" for m in self.messages]


class _SmtpHandler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        part = message.get_body(preferencelist=("plain", "html"))
        text = part.get_content() if part is not None else ""
        with self.receiver.lock:
            self.receiver.messages.append({
                "from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                "subject": str(message.get("Subject", "")), "body": text})
        return "250 Message accepted for delivery"


class SmtpReceiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[dict] = []
        self.lock = threading.Lock()
        self.controller = None

    def start(self) -> SmtpReceiver:
        from aiosmtpd.controller import Controller

        self.controller = Controller(_SmtpHandler(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def close(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def url(self, to: str = "owner@example.com", sender: str = "portal@example.com") -> str:
        return f"mailto://127.0.0.1:{self.port}?to={to}&from={sender}&mode=insecure"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} mail(s) within {timeout}s, got "
                             f"{len(self.messages)}")

    def texts(self) -> list[str]:
        with self.lock:
            return [f"{m['subject']}\n{m['body']}" for m in self.messages]
