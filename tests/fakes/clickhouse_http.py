"""ClickHouse's HTTP interface for tests, answered by a real ClickHouse engine (chDB).

No ClickHouse server recent enough for ``BACKUP ... TO S3`` installs from the package
registries here (Debian ships 18.16), but PyPI's ``chdb-core`` embeds a current ClickHouse
(26.x) as a library. This server speaks the small part of the HTTP protocol that
clickhouse-connect uses (``POST /?query=...&database=...`` with the statement in the body or
the ``query`` parameter, basic or ``X-ClickHouse-User``/``-Key`` credentials, errors as
``Code: N. DB::Exception: ...`` with HTTP 500) and runs every statement in one chDB session,
so the SQL the portal sends (BACKUP, RESTORE, system.backups, counts) is executed by
ClickHouse itself. What it does not prove: the network protocol details of a real
clickhouse-server (compression, sessions, TLS), and ClickHouse's own user/grant checks.

    with ClickHouseTestServer(user="default", password="pw") as ch:
        ch.url   # http://default:pw@127.0.0.1:PORT
"""

from __future__ import annotations

import base64
import re
import tempfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)


class ClickHouseTestServer:
    def __init__(self, user: str = "default", password: str = ""):
        from chdb import session  # imported here: a 180 MB engine loaded only when used

        self.user, self.password = user, password
        self._dir = tempfile.TemporaryDirectory(prefix="chdb-")
        self.session = session.Session(self._dir.name)
        self.lock = threading.Lock()
        self.queries: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        auth = urllib.parse.quote(self.user, safe="")
        if self.password:
            auth += ":" + urllib.parse.quote(self.password, safe="")
        return f"http://{auth}@127.0.0.1:{self.port}"

    def sql(self, text: str, fmt: str = "TabSeparated") -> str:
        with self.lock:
            return str(self.session.query(text, fmt))

    def __enter__(self) -> ClickHouseTestServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        try:
            self.session.close()
        except Exception:
            pass
        self._dir.cleanup()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _authorized(self) -> bool:
                user = self.headers.get("X-ClickHouse-User")
                key = self.headers.get("X-ClickHouse-Key", "")
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    user, _, key = base64.b64decode(auth[6:]).decode().partition(":")
                params = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                user = user or params.get("user", ["default"])[0]
                key = key or params.get("password", [""])[0]
                return user == server.user and key == server.password

            def _answer(self, status: int, body: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-ClickHouse-Query-Id", "test")
                self.send_header("X-ClickHouse-Timezone", "UTC")
                self.send_header("X-ClickHouse-Summary", '{"read_rows":"0","written_rows":"0"}')
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._query(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._query(self.rfile.read(length) if length else b"")

            def _query(self, body: bytes) -> None:
                parts = urllib.parse.urlsplit(self.path)
                if parts.path == "/ping":
                    return self._answer(200, b"Ok.\n")
                if not self._authorized():
                    return self._answer(403, b"Code: 516. DB::Exception: default: "
                                             b"Authentication failed. (AUTHENTICATION_FAILED)")
                params = urllib.parse.parse_qs(parts.query)
                text = " ".join([params.get("query", [""])[0], body.decode()]).strip()
                database = params.get("database", [""])[0]
                fmt = "TabSeparated"
                found = _FORMAT.search(text)
                if found:
                    fmt, text = found.group(1), text[:found.start()]
                server.queries.append(text)
                try:
                    with server.lock:
                        if database:
                            server.session.query(f"USE {database}")
                        result = server.session.query(text, fmt)
                    out = result.bytes() if hasattr(result, "bytes") else bytes(result)
                except Exception as exc:  # ClickHouse's error text, as the server answers
                    message = str(exc).strip()
                    code = re.search(r"Code: (\d+)", message)
                    return self._answer(500, message.encode(), {
                        "X-ClickHouse-Exception-Code": code.group(1) if code else "1"})
                self._answer(200, out or b"", {"X-ClickHouse-Format": fmt})

        return Handler
