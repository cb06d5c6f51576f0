"""A fake of the part of GitHub's REST API the portal uses, over real HTTP, speaking what
PyGithub sends (``base_url=<fake.api_url>``, GitHub Enterprise style ``/api/v3``):

    with FakeGitHubAPI(tokens={"ghp_test"}) as gh:
        settings.GITHUB_API_URL = gh.api_url
        ...
        gh.statuses   # [{"repo", "sha", "state", "context", "description", "target_url"}]
        gh.comments   # {id: {"repo", "number", "body", "edits": [old bodies]}}

It records commit statuses, comments and their edits; answers pull requests and reviews
set with ``pull(...)``; serves GitHub App installation tokens (``app_id`` + ``public_key``:
the JWT is verified); and fails on demand: ``fail(n, status, headers)`` answers the next
``n`` requests with that status (a 502, a 429, a 403 with ``x-ratelimit-remaining: 0``).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that went away
            super().handle_error(request, client_address)


class FakeGitHubAPI:
    def __init__(self, tokens: set[str] | None = None, app_id: int | None = None,
                 public_key: str | None = None, installation_id: int = 77,
                 token_ttl: int = 3600):
        self.tokens = set(tokens or ())
        self.app_id = app_id
        self.public_key = public_key
        self.installation_id = installation_id
        self.token_ttl = token_ttl
        self.statuses: list[dict] = []
        self.comments: dict[int, dict] = {}
        self.pulls: dict[tuple[str, int], dict] = {}
        self.requests: list[tuple[str, str]] = []
        self.issued_tokens: list[str] = []
        self.failures: list[tuple[int, dict]] = []
        self.delay = 0.0
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self.changed = threading.Condition(self._lock)
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- set-up -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/v3"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def fail(self, count: int, status: int = 502, headers: dict | None = None) -> None:
        with self._lock:
            self.failures.extend([(status, dict(headers or {}))] * count)

    def pull(self, repo: str, number: int, *, head_sha: str, approved_by: list[str] = (),
             changes_requested_by: list[str] = (), mergeable: bool | None = True,
             state: str = "open") -> None:
        reviews = [{"user": u, "state": "APPROVED"} for u in approved_by]
        reviews += [{"user": u, "state": "CHANGES_REQUESTED"} for u in changes_requested_by]
        with self._lock:
            self.pulls[(repo, number)] = {"head_sha": head_sha, "reviews": reviews,
                                          "mergeable": mergeable, "state": state}

    def wait(self, predicate, timeout: float = 10.0):
        """Block until ``predicate(self)`` is true (statuses and comments arrive from a
        worker thread); returns its value."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                value = predicate(self)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out waiting on the fake GitHub API")
                self.changed.wait(left)

    def statuses_for(self, context: str) -> list[dict]:
        return [s for s in self.statuses if s["context"] == context]

    # --- the server -------------------------------------------------------------------
    def _authorised(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("token", "bearer") and value in self.tokens:
            return True
        return value in self.issued_tokens

    def _app_jwt_ok(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or self.public_key is None:
            return False
        import jwt

        try:
            claims = jwt.decode(value, self.public_key, algorithms=["RS256"])
        except jwt.PyJWTError:
            return False
        return str(claims.get("iss")) == str(self.app_id)

    def _handler(self):
        fake = self
        repo_path = r"/api/v3/repos/(?P<repo>[^/]+/[^/]+)"
        routes = [
            ("GET", rf"{repo_path}/commits/(?P<sha>[^/]+)", "commit"),
            ("POST", rf"{repo_path}/statuses/(?P<sha>[^/]+)", "status"),
            ("GET", rf"{repo_path}/issues/comments/(?P<id>\d+)", "get_comment"),
            ("PATCH", rf"{repo_path}/issues/comments/(?P<id>\d+)", "edit_comment"),
            ("GET", rf"{repo_path}/issues/(?P<number>\d+)", "issue"),
            ("POST", rf"{repo_path}/issues/(?P<number>\d+)/comments", "create_comment"),
            ("GET", rf"{repo_path}/pulls/(?P<number>\d+)", "get_pull"),
            ("GET", rf"{repo_path}/pulls/(?P<number>\d+)/reviews", "reviews"),
            ("GET", rf"{repo_path}/installation", "installation"),
            ("POST", r"/api/v3/app/installations/(?P<id>\d+)/access_tokens", "access_token"),
            ("GET", rf"{repo_path}", "repo"),
        ]

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, body, headers: dict | None = None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                headers = {"x-ratelimit-remaining": "4999", **(headers or {})}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _dispatch(self, method: str):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                path = self.path.split("?", 1)[0]
                with fake._lock:
                    fake.requests.append((method, path))
                    failure = fake.failures.pop(0) if fake.failures else None
                if fake.delay:
                    time.sleep(fake.delay)
                if failure is not None:
                    status, headers = failure
                    return self._send(status, {"message": f"fake failure {status}"}, headers)
                for verb, pattern, name in routes:
                    match = re.fullmatch(pattern, path)
                    if verb == method and match:
                        auth = self.headers.get("Authorization", "")
                        if name == "installation" or name == "access_token":
                            if not fake._app_jwt_ok(auth):
                                return self._send(401, {"message": "A JSON web token could "
                                                                   "not be decoded"})
                        elif not fake._authorised(auth):
                            return self._send(401, {"message": "Bad credentials"})
                        status, answer = getattr(self, name)(body, **match.groupdict())
                        with fake.changed:
                            fake.changed.notify_all()
                        return self._send(status, answer)
                return self._send(404, {"message": "Not Found"})

            def do_GET(self):
                self._dispatch("GET")

            def do_POST(self):
                self._dispatch("POST")

            def do_PATCH(self):
                self._dispatch("PATCH")

            # --- routes -----------------------------------------------------------------
            def repo(self, body, repo):
                return 200, {"id": 1, "full_name": repo, "name": repo.split("/")[1],
                             "url": f"{fake.api_url}/repos/{repo}"}

            def commit(self, body, repo, sha):
                return 200, {"sha": sha, "url": f"{fake.api_url}/repos/{repo}/commits/{sha}"}

            def status(self, body, repo, sha):
                entry = {"repo": repo, "sha": sha, "state": body.get("state"),
                         "context": body.get("context", "default"),
                         "description": body.get("description", ""),
                         "target_url": body.get("target_url", "")}
                with fake._lock:
                    fake.statuses.append(entry)
                return 201, {"id": len(fake.statuses), **entry,
                             "url": f"{fake.api_url}/repos/{repo}/statuses/{sha}"}

            def _comment(self, repo, number, comment_id):
                entry = fake.comments[comment_id]
                return {"id": comment_id, "body": entry["body"],
                        "url": f"{fake.api_url}/repos/{repo}/issues/comments/{comment_id}",
                        "issue_url": f"{fake.api_url}/repos/{repo}/issues/{number}",
                        "user": {"login": "eaas-portal[bot]", "id": 9}}

            def issue(self, body, repo, number):
                return 200, {"number": int(number),
                             "url": f"{fake.api_url}/repos/{repo}/issues/{number}"}

            def create_comment(self, body, repo, number):
                with fake._lock:
                    comment_id = next(fake._ids)
                    fake.comments[comment_id] = {"repo": repo, "number": int(number),
                                                 "body": body.get("body", ""), "edits": []}
                return 201, self._comment(repo, number, comment_id)

            def get_comment(self, body, repo, id):
                entry = fake.comments.get(int(id))
                if entry is None or entry["repo"] != repo:
                    return 404, {"message": "Not Found"}
                return 200, self._comment(repo, entry["number"], int(id))

            def edit_comment(self, body, repo, id):
                with fake._lock:
                    entry = fake.comments.get(int(id))
                    if entry is None or entry["repo"] != repo:
                        return 404, {"message": "Not Found"}
                    entry["edits"].append(entry["body"])
                    entry["body"] = body.get("body", "")
                return 200, self._comment(repo, entry["number"], int(id))

            def get_pull(self, body, repo, number):
                pull = fake.pulls.get((repo, int(number)))
                if pull is None:
                    return 404, {"message": "Not Found"}
                return 200, {"number": int(number), "state": pull["state"],
                             "mergeable": pull["mergeable"],
                             "head": {"sha": pull["head_sha"], "ref": "feature"},
                             "url": f"{fake.api_url}/repos/{repo}/pulls/{number}"}

            def reviews(self, body, repo, number):
                pull = fake.pulls.get((repo, int(number))) or {"reviews": []}
                return 200, [{"id": i + 1, "state": r["state"],
                              "user": {"login": r["user"], "id": 100 + i}}
                             for i, r in enumerate(pull["reviews"])]

            def installation(self, body, repo):
                return 200, {"id": fake.installation_id, "app_id": fake.app_id,
                             "account": {"login": repo.split("/")[0]}}

            def access_token(self, body, id):
                if int(id) != fake.installation_id:
                    return 404, {"message": "Not Found"}
                token = f"ghs_fake{next(fake._ids)}"
                expires = datetime.now(UTC) + timedelta(seconds=fake.token_ttl)
                with fake._lock:
                    fake.issued_tokens.append(token)
                return 201, {"token": token,
                             "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                             "permissions": {"statuses": "write",
                                             "pull_requests": "write"}}

        return Handler
