"""Sign-in pages (GitHub, one-time links), sign-out, and Settings → Tokens."""

from __future__ import annotations

from datetime import timedelta
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth import login, logout
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from portal.audit.models import Outcome, record

from .models import SCOPE_HELP, ApiToken, Scope, SigninFailure, SigninLink, check_scope


def rate_limited(view):
    """Refuse sign-in attempts from a client with too many recent failures (429)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if SigninFailure.too_many(getattr(request, "client_ip", None)):
            record("signin", outcome=Outcome.REFUSED, actor="anonymous", target="signin",
                   request=request, reason="rate limited")
            return render(request, "auth/rate_limited.html", status=429)
        return view(request, *args, **kwargs)

    return wrapper


def signin(request):
    if request.user.is_authenticated:
        return redirect("dashboard")
    return render(request, "auth/signin.html", {"next": request.GET.get("next", "")})


@rate_limited
def signin_link(request, token: str):
    """GET shows a confirmation (link scanners must not burn the link); POST signs in."""
    if request.method == "POST":
        user = SigninLink.redeem(token)
        if user is None:
            return _link_failed(request)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        record("signin", user=user, target="signin-link", request=request, method="link")
        return redirect("dashboard")
    if SigninLink.peek(token) is None:
        return _link_failed(request)
    return render(request, "auth/link_confirm.html")


def _link_failed(request):
    SigninFailure.objects.create(client_ip=request.client_ip, reason="bad sign-in link")
    record("signin", outcome=Outcome.FAILURE, actor="anonymous", target="signin-link",
           request=request, reason="invalid, used or expired link")
    return render(request, "auth/refused.html",
                  {"message": "This sign-in link is invalid, already used or expired. "
                   "Make a new one with `manage.py signin_link`."}, status=403)


@require_POST
def signout(request):
    if request.user.is_authenticated:
        record("signout", request=request)
    logout(request)
    return redirect("signin")


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    scope = forms.CharField(max_length=80, initial=Scope.READ, help_text=SCOPE_HELP,
                            widget=forms.TextInput(attrs={"list": "token-scopes"}))
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=3650, required=False, help_text="empty: never expires"
    )

    def clean_scope(self) -> str:
        try:
            return check_scope(self.cleaned_data["scope"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


def tokens(request):
    created = None
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        token, plaintext = ApiToken.issue(
            request.user,
            form.cleaned_data["name"],
            form.cleaned_data["scope"],
            timezone.now() + timedelta(days=days) if days else None,
        )
        record("token.create", target=f"token:{token.prefix}", request=request,
               name=token.name, scope=token.scope)
        created = plaintext
        form = TokenForm()
    response = render(request, "auth/tokens.html", {
        "form": form, "created": created,
        "tokens": ApiToken.objects.filter(user=request.user),
    })
    if created:
        response["Cache-Control"] = "no-store"
    return response


@require_POST
def revoke_token(request, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    if token.revoke():
        record("token.revoke", target=f"token:{token.prefix}", request=request, name=token.name)
        messages.success(request, f"Token {token.name} ({token.prefix}…) revoked.")
    return redirect("tokens")
