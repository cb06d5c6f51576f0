"""A small fake of GitHub's OAuth web flow and user API, for end-to-end sign-in tests.

    with FakeGitHub(user={"id": 4242, "login": "owner"}) as gh:
        settings.GITHUB_URL = gh.url; settings.GITHUB_API_URL = gh.url + "/api"

/login/oauth/authorize shows an "Authorize" button that redirects to the redirect_uri
with a code and the state it was given; /login/oauth/access_token trades the code for a
token (checking client id and secret); /api/user answers for that token.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit


class FakeGitHub:
    def __init__(self, user: dict, client_id: str = "fake-client",
                 client_secret: str = "s3"):  # noqa: S107 (a test double)
        self.user = dict(user)
        self.client_id = client_id
        self.client_secret = client_secret
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body, content_type="application/json", headers=None):
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                fake.requests.append(f"GET {parts.path}")
                if parts.path == "/login/oauth/authorize":
                    if query.get("client_id") != fake.client_id:
                        return self._send(400, "unknown client_id", "text/plain")
                    code = secrets.token_hex(8)
                    fake.codes[code] = {"redirect_uri": query.get("redirect_uri", "")}
                    target = query["redirect_uri"] + "?" + urlencode(
                        {"code": code, "state": query.get("state", "")})
                    page = (f"<html><body><h1>Authorize {html.escape(fake.client_id)}</h1>"
                            f'<a id="authorize" href="{html.escape(target)}">Authorize</a>'
                            "</body></html>")
                    return self._send(200, page, "text/html")
                if parts.path in ("/api/user", "/user"):
                    token = self.headers.get("Authorization", "").split()[-1]
                    if token not in fake.tokens:
                        return self._send(401, json.dumps({"message": "Bad credentials"}))
                    return self._send(200, json.dumps(fake.tokens[token]))
                if parts.path.endswith("/emails"):
                    return self._send(200, json.dumps([]))
                return self._send(404, json.dumps({"message": "Not Found"}))

            def do_POST(self):  # noqa: N802
                parts = urlsplit(self.path)
                fake.requests.append(f"POST {parts.path}")
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if parts.path != "/login/oauth/access_token":
                    return self._send(404, json.dumps({"message": "Not Found"}))
                if (form.get("client_id") != fake.client_id
                        or form.get("client_secret") != fake.client_secret):
                    return self._send(401, json.dumps({"error": "incorrect_client_credentials"}))
                if fake.codes.pop(form.get("code", ""), None) is None:
                    return self._send(400, json.dumps({"error": "bad_verification_code"}))
                token = "gho_" + secrets.token_hex(16)
                fake.tokens[token] = dict(fake.user)
                return self._send(200, json.dumps({"access_token": token,
                                                   "token_type": "bearer", "scope": ""}))

        return Handler
