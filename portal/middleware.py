"""Client IP from trusted proxies, security headers, and sign-in required everywhere."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, JsonResponse
from django.middleware.common import CommonMiddleware as DjangoCommonMiddleware
from django.shortcuts import resolve_url

from portal.errors import DomainError, NotFound
from portal.runs.pages import refuse

# Paths reachable without signing in. Everything else needs a session or a token.
# /hooks/: webhooks authenticate by their own signature (envs/github checks it).
PUBLIC_PREFIXES = ("/signin", "/auth/", "/healthz", "/static/", "/hooks/")


def _parse_ip(value: str | None):
    try:
        return ipaddress.ip_address((value or "").strip())
    except ValueError:
        return None


def _trusted(ip) -> bool:
    return ip is not None and any(ip in net for net in settings.TRUSTED_PROXIES)


def client_ip(meta) -> str | None:
    """The peer address, or the forwarded client when the peer is a trusted proxy.

    X-Forwarded-For is walked from the right: the first address that is not one of our
    proxies is the client; anything left of it may be forged. CF-Connecting-IP is believed
    only when every hop in that chain is trusted (a Cloudflare tunnel on this host, or
    Cloudflare's ranges listed in PORTAL_TRUSTED_PROXIES): a client that reaches the ingress
    directly can send any CF-Connecting-IP, but not hide its own address from the ingress.
    """
    peer = _parse_ip(meta.get("REMOTE_ADDR"))
    if not _trusted(peer):
        return str(peer) if peer else None
    forwarded = [p for p in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
    for part in reversed(forwarded):
        ip = _parse_ip(part)
        if ip is None:
            return str(peer)  # a garbled chain: trust nothing beyond our own proxy
        if not _trusted(ip):
            return str(ip)
    cf = _parse_ip(meta.get("HTTP_CF_CONNECTING_IP"))
    return str(cf) if cf is not None else str(peer)


class ClientIpMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.client_ip = client_ip(request.META)
        return self.get_response(request)


CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # Starting a GitHub sign-in is a form POST that redirects to GitHub.
        csp = f"{CSP}; form-action 'self' {settings.GITHUB_URL}"
        if request.path_info == "/api/docs/":
            # Swagger UI (vendored) injects its own <style> elements; scripts stay 'self'.
            csp = csp.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=()"
        )
        return response


class LoginRequiredMiddleware:
    """Deny by default: a page or API endpoint must opt out to be public.

    API requests are left to DRF (token or session, with 401/403 in the API's error form);
    pages redirect to sign-in.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path.startswith(PUBLIC_PREFIXES) or path == "/favicon.ico":
            return self.get_response(request)
        if path.startswith("/api/"):
            return self.get_response(request)
        if not request.user.is_authenticated:
            if request.headers.get("HX-Request"):
                response = JsonResponse({"error": "not_authenticated"}, status=401)
                response["HX-Redirect"] = resolve_url(settings.LOGIN_URL)
                return response
            return redirect_to_login(request.get_full_path())
        return self.get_response(request)


class RefuseNulBytesMiddleware:
    """A NUL byte in the path or query string is refused with a 400 in the API's error form.

    Hardening: PostgreSQL text cannot hold NUL, so ``/api/envs/%00/`` reached the database
    and answered 500. Bodies are checked by the serializers (DRF refuses NUL in CharFields).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            return JsonResponse({"error": "invalid", "detail": "the URL contains a NUL byte",
                                 "fields": {}}, status=400)
        return self.get_response(request)


class CommonMiddleware(DjangoCommonMiddleware):
    """Django's, without the trailing-slash redirect under /api/.

    That redirect is a 301 with an empty HTML body; a client that follows it turns a POST
    into a GET (``POST /api/runs`` answered 200 with a run list and started nothing). The
    API answers 404 in its error form instead, naming the URL with the slash.
    """

    def should_redirect_with_slash(self, request):
        if request.path_info.startswith("/api/"):
            return False
        return super().should_redirect_with_slash(request)


class DomainErrorMiddleware:
    """A service's refusal that a page view did not handle itself becomes what a page form
    shows (``portal.runs.pages.refuse``): the message, and the errors next to their fields,
    back where the owner came from (or a 404 page for NotFound). Never a 500. The API
    renders them in its exception handler."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DomainError) or request.path.startswith("/api/"):
            return None
        if isinstance(exception, NotFound):
            raise Http404(str(exception)) from exception
        return refuse(request, exception, "/")
