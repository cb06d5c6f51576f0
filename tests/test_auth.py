"""Sign-in: the owner by GitHub id, one-time links, refusals, rate limits, deny by default."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from portal.audit.models import AuditEvent
from portal.auth.models import SigninLink

PUBLIC = {"/healthz", "/signin/", "/signin/link/<token>/", "/auth/login/<backend>/",
          "/auth/complete/<backend>/",
          "/hooks/github/"}  # authenticated by GitHub's signature (tests/test_github_webhook.py)


def all_routes(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from all_routes(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield "/" + route


def concrete(route: str) -> str:
    route = route.replace("^", "").replace("$", "").replace("\\Z", "")
    route = re.sub(r"<int:\w+>", "1", route)
    route = re.sub(r"<(str:)?\w+>", "x", route)
    return route.replace("(?P<format>[a-z0-9]+)", "json").replace("\\.", ".")


def test_every_url_requires_sign_in_or_a_token(db):
    routes = sorted(set(all_routes()))
    assert len(routes) > 15
    checked = 0
    for route in routes:
        public = route.replace("str:", "") in PUBLIC
        path = concrete(route)
        for method in ("get", "post"):
            response = getattr(Client(), method)(path)
            if public:
                continue
            if path.startswith("/api/"):
                assert response.status_code in (401, 403), (method, path, response.status_code)
            else:
                assert response.status_code == 302, (method, path, response.status_code)
                assert response["Location"].startswith("/signin/"), (method, path)
            checked += 1
    assert checked > 30


def test_healthz_is_public_and_says_nothing(db):
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_signin_link_is_single_use(owner):
    token = SigninLink.issue(owner)
    client = Client()
    assert client.get(f"/signin/link/{token}/").status_code == 200  # confirmation only
    response = client.post(f"/signin/link/{token}/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    again = Client().post(f"/signin/link/{token}/")
    assert again.status_code == 403 and b"invalid, already used or expired" in again.content
    assert AuditEvent.objects.filter(action="signin", outcome="success").count() == 1
    assert AuditEvent.objects.filter(action="signin", outcome="failure").count() == 1


def test_signin_link_expires_after_ten_minutes(owner):
    token = SigninLink.issue(owner)
    SigninLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().post(f"/signin/link/{token}/").status_code == 403


def test_signin_link_command_prints_a_url_on_the_public_url(db, capsys):
    call_command("signin_link")
    url = capsys.readouterr().out.strip().splitlines()[-1]
    assert url.startswith("http://127.0.0.1:8000/signin/link/")
    path = urlsplit(url).path
    client = Client()
    assert client.post(path).status_code == 302


def test_five_failures_then_429(db):
    client = Client()
    for _ in range(5):
        assert client.post("/signin/link/bogus/").status_code == 403
    assert client.post("/signin/link/bogus/").status_code == 429
    assert client.post("/auth/login/github/").status_code == 429
    other_ip = Client(REMOTE_ADDR="10.9.9.9")
    assert other_ip.post("/signin/link/bogus/").status_code == 403


def test_rotating_ipv6_addresses_inside_one_64_shares_one_budget(db):
    for n in range(5):  # a fresh address each time, all in 2001:db8:1:2::/64
        rotating = Client(REMOTE_ADDR=f"2001:db8:1:2::{n + 1:x}")
        assert rotating.post("/signin/link/bogus/").status_code == 403
    assert Client(REMOTE_ADDR="2001:db8:1:2:ffff::9").post("/signin/link/bogus/").status_code \
        == 429
    # The neighbouring /64 is another subscriber.
    assert Client(REMOTE_ADDR="2001:db8:1:3::1").post("/signin/link/bogus/").status_code == 403


def test_requests_without_an_address_share_one_budget(db):
    for _ in range(5):
        assert Client(REMOTE_ADDR="").post("/signin/link/bogus/").status_code == 403
    assert Client(REMOTE_ADDR="").post("/signin/link/bogus/").status_code == 429
    assert Client().post("/signin/link/bogus/").status_code == 403  # 127.0.0.1 is not limited


@pytest.mark.parametrize("meta, expected", [
    # Straight from the internet: headers are ignored.
    ({"REMOTE_ADDR": "198.51.100.9", "HTTP_CF_CONNECTING_IP": "203.0.113.7"}, "198.51.100.9"),
    # Through our ingress (trusted) from a client that skipped Cloudflare: the ingress
    # appended the real peer, so a forged CF-Connecting-IP does not count.
    ({"REMOTE_ADDR": "10.42.0.5", "HTTP_X_FORWARDED_FOR": "198.51.100.9",
      "HTTP_CF_CONNECTING_IP": "203.0.113.7"}, "198.51.100.9"),
    ({"REMOTE_ADDR": "10.42.0.5", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 198.51.100.9"},
     "198.51.100.9"),
    # Every hop trusted (a tunnel on this host): its CF-Connecting-IP is the client.
    ({"REMOTE_ADDR": "127.0.0.1", "HTTP_CF_CONNECTING_IP": "203.0.113.7"}, "203.0.113.7"),
    ({"REMOTE_ADDR": "10.42.0.5", "HTTP_X_FORWARDED_FOR": "127.0.0.1",
      "HTTP_CF_CONNECTING_IP": "203.0.113.7"}, "203.0.113.7"),
    ({"REMOTE_ADDR": "10.42.0.5", "HTTP_X_FORWARDED_FOR": "junk, 10.42.0.9"}, "10.42.0.5"),
])
def test_forwarded_headers_count_only_through_trusted_hops(settings, meta, expected):
    import ipaddress

    from portal.middleware import client_ip

    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1/32"),
                                ipaddress.ip_network("10.42.0.0/16")]
    assert client_ip(meta) == expected


def test_trusted_proxy_header_decides_the_client_ip(db, settings):
    import ipaddress

    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1/32")]
    client = Client(HTTP_CF_CONNECTING_IP="203.0.113.7")
    client.post("/signin/link/bogus/")
    assert AuditEvent.objects.get().client_ip == "203.0.113.7"
    settings.TRUSTED_PROXIES = []
    Client(HTTP_X_FORWARDED_FOR="203.0.113.9").post("/signin/link/bogus/")
    assert AuditEvent.objects.first().client_ip == "127.0.0.1"  # untrusted peer: header ignored


def _github_signin(settings, github_id: int, login: str):
    settings.SOCIAL_AUTH_GITHUB_KEY = "client-id"
    settings.SOCIAL_AUTH_GITHUB_SECRET = "client-secret"
    client = Client()
    begin = client.get("/auth/login/github/")
    assert begin.status_code == 405  # starting a sign-in must be a POST
    begin = client.post("/auth/login/github/")
    assert begin.status_code == 302
    location = urlsplit(begin["Location"])
    assert f"{location.scheme}://{location.netloc}" == settings.GITHUB_URL
    state = parse_qs(location.query)["state"][0]
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{settings.GITHUB_URL}/login/oauth/access_token",
                 json={"access_token": "gho_test_token", "token_type": "bearer"})
        mock.add(responses.GET, f"{settings.GITHUB_API_URL}/user",
                 json={"id": github_id, "login": login, "email": f"{login}@example.com"})
        done = client.get("/auth/complete/github/", {"code": "abc", "state": state})
    return client, done


def test_github_owner_by_numeric_id_gets_in(db, settings):
    settings.OWNER_GITHUB_IDS = [4242]
    client, done = _github_signin(settings, 4242, "renamed-login")
    assert done.status_code == 302, done.content
    assert client.get("/").status_code == 200
    event = AuditEvent.objects.get(action="signin", outcome="success")
    assert event.target == "github:4242"
    from social_django.models import UserSocialAuth

    assert "gho_test_token" not in str(UserSocialAuth.objects.values().get())


def test_anyone_else_is_refused_with_a_clear_page_and_an_audit_event(db, settings):
    settings.OWNER_GITHUB_IDS = [4242]
    client, done = _github_signin(settings, 999, "stranger")
    assert done.status_code == 403
    assert b"not this portal&#x27;s owner" in done.content or b"not this portal" in done.content
    assert client.get("/").status_code == 302
    event = AuditEvent.objects.get(action="signin")
    assert event.outcome == "refused" and event.actor == "github:stranger"


def test_oauth_state_is_checked(db, settings):
    settings.SOCIAL_AUTH_GITHUB_KEY = "client-id"
    settings.SOCIAL_AUTH_GITHUB_SECRET = "client-secret"
    client = Client()
    client.post("/auth/login/github/")
    response = client.get("/auth/complete/github/", {"code": "abc", "state": "forged"})
    assert response.status_code == 400
    assert AuditEvent.objects.get(action="signin").outcome == "failure"


def test_forms_enforce_csrf(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post("/runs/selfcheck/").status_code == 403
    assert client.post("/settings/tokens/", {"name": "x", "scope": "read"}).status_code == 403
    assert client.post("/signout/").status_code == 403


def test_security_headers(signed_in):
    response = signed_in.get("/")
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_tokens_page_creates_shows_once_and_revokes(signed_in):
    response = signed_in.post("/settings/tokens/", {"name": "script", "scope": "write"})
    token = re.search(rb"eaas_[0-9a-f]{8}_[\w-]+", response.content).group().decode()
    assert response["Cache-Control"] == "no-store"
    page = signed_in.get("/settings/tokens/")
    assert token.encode() not in page.content and b"script" in page.content
    from portal.auth.models import ApiToken

    pk = ApiToken.objects.get(name="script").pk
    signed_in.post(f"/settings/tokens/{pk}/revoke/")
    assert ApiToken.objects.get(pk=pk).state == "revoked"
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"token.create", "token.revoke"} <= actions


@pytest.mark.parametrize("path", ["/", "/runs/", "/audit/", "/envs/", "/catalog/",
                                  "/settings/tokens/"])
def test_pages_render_for_the_owner(signed_in, path):
    assert signed_in.get(path).status_code == 200
