"""Turns social-auth failures into a clear refusal page, counted for rate limiting."""

from __future__ import annotations

from django.shortcuts import render
from social_core.exceptions import SocialAuthBaseException

from portal.audit.models import Outcome, record

from .models import SigninFailure
from .pipeline import NotOwner


class SignInErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, SocialAuthBaseException):
            return None
        SigninFailure.objects.create(client_ip=getattr(request, "client_ip", None),
                                     reason=type(exception).__name__)
        if not isinstance(exception, NotOwner):  # NotOwner was audited with the GitHub login
            record(
                "signin",
                outcome=Outcome.FAILURE,
                actor="anonymous",
                target="github",
                request=request,
                reason=(getattr(exception, "detail", "") or str(exception))[:200],
            )
        refused = isinstance(exception, NotOwner)
        message = getattr(exception, "detail", "") or str(exception)
        return render(
            request,
            "auth/refused.html",
            {"refused": refused, "message": message},
            status=403 if refused else 400,
        )
