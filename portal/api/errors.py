"""One error shape for the whole API: {"error": code, "detail": text, "fields": {...}}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from portal.errors import DomainError


class ApiError(exceptions.APIException):
    """Raise with a code, a message and optionally a status and field errors."""

    def __init__(self, code: str, detail: str, status_code: int = 400, fields=None, **extra):
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.code = code
        self.fields = fields or {}
        self.extra = extra


def _flatten(detail) -> dict:
    if isinstance(detail, dict):
        return {key: _messages(value) for key, value in detail.items()}
    return {"non_field_errors": _messages(detail)}


def _messages(value):
    if isinstance(value, dict):
        return {key: _messages(item) for key, item in value.items()}
    if isinstance(value, list):
        if all(not isinstance(item, (dict, list)) for item in value):
            return [str(item) for item in value]
        return [_messages(item) for item in value]
    return [str(value)]


def _summary(fields: dict) -> str:
    parts = []
    for key, value in fields.items():
        first = value
        while isinstance(first, (list, dict)) and first:
            first = first[0] if isinstance(first, list) else next(iter(first.values()))
        parts.append(f"{key}: {first}")
    return "; ".join(parts) or "invalid input"


def domain_error(exc: DomainError) -> ApiError:
    """The API form of a service's refusal: its code, sentence, status, fields and extras."""
    return ApiError(exc.code, exc.detail, exc.status, fields=exc.fields, **exc.extra)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        exc = domain_error(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)):
        # Django's own answer would be an HTML 400 logged with a traceback (hardening).
        from django.conf import settings

        exc = ApiError("too_large", "the request body is too large (at most "
                       f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes, "
                       f"{settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields)",
                       status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_handler(exc, context)
    if response is None:
        return None
    body: dict = {"fields": {}}
    if isinstance(exc, ApiError):
        body.update(error=exc.code, detail=str(exc.detail), fields=exc.fields, **exc.extra)
    elif isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        body.update(error="invalid", detail=_summary(fields), fields=fields)
    else:
        codes = exc.get_codes() if hasattr(exc, "get_codes") else "error"
        code = codes if isinstance(codes, str) else "error"
        body.update(error=code, detail=str(getattr(exc, "detail", exc)))
    response.data = body
    return response

