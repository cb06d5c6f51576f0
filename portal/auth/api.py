"""DRF authentication and permission: bearer tokens with read/write scopes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import ApiToken, Scope, deploy_environment


class BearerTokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'")
        try:
            plaintext = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("token contains invalid characters") from None
        token = ApiToken.find(plaintext)
        if token is None:
            raise exceptions.AuthenticationFailed("invalid, expired or revoked token")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("the token's user is inactive")
        token.touch()
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


@dataclass(frozen=True)
class DeployRoute:
    """An API route a deploy:<env> token may use: its methods, the URL kwarg naming the
    environment (None: any), and an optional ``check(env_name) -> refusal or ""``."""

    methods: frozenset[str]
    env_kwarg: str | None = None
    check: Callable[[str], str] | None = None


# Routes (URL names) a deploy:<env> token reaches; the kernel's own: reading runs. A
# feature adds its deploy endpoint with ``allow_deploy_tokens`` from its AppConfig.ready.
DEPLOY_ROUTES: dict[str, DeployRoute] = {
    name: DeployRoute(frozenset(SAFE_METHODS)) for name in ("api-runs", "api-run",
                                                             "api-run-log")
}


def allow_deploy_tokens(url_name: str, methods: set[str], env_kwarg: str | None = "env",
                        check: Callable[[str], str] | None = None) -> None:
    DEPLOY_ROUTES[url_name] = DeployRoute(frozenset(methods), env_kwarg, check)


class OwnerScopePermission(BasePermission):
    """Signed-in owner (session) or a token; a read token may only use safe methods; a
    deploy:<env> token only the routes in DEPLOY_ROUTES, for its own environment."""

    message = "this token has the read scope; changing state needs a write token"

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        token = request.auth
        if isinstance(token, ApiToken):
            env = deploy_environment(token.scope)
            if env is not None:
                return self._deploy_allowed(request, env)
            if request.method not in SAFE_METHODS:
                return token.scope == Scope.WRITE
        return True

    def _deploy_allowed(self, request, env: str) -> bool:
        match = getattr(request, "resolver_match", None)
        route = DEPLOY_ROUTES.get(match.url_name if match else "")
        self.message = (f"this token has the deploy:{env} scope: it may only start deploys "
                        f"in {env} and read runs")
        if match is None or route is None or request.method not in route.methods:
            return False
        if route.env_kwarg is not None and (match.kwargs.get(route.env_kwarg) != env):
            return False
        if route.check is not None:
            refusal = route.check(env)
            if refusal:
                self.message = refusal
                return False
        return True


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "bearer"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "An API token from Settings → Tokens or `manage.py create_token`"}
