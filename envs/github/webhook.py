"""Reading a webhook request as GitHub sends it: the signature over the raw body, the
delivery headers, and the JSON payload (or the ``payload=`` form GitHub sends when the
hook's content type is ``application/x-www-form-urlencoded``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from portal.errors import DomainError, Invalid

MAX_BODY = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB
DELIVERY_ID = re.compile(r"^[A-Za-z0-9-]{1,100}$")
EVENT = re.compile(r"^[a-z_]{1,50}$")


class BadSignature(DomainError):
    """Missing or wrong X-Hub-Signature-256: nothing is acted on."""

    code = "bad_signature"
    status = 401


class TooLarge(DomainError):
    code = "too_large"
    status = 413


def signature(secret: str, body: bytes) -> str:
    """What GitHub sends in X-Hub-Signature-256 for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_signature(secret: str, body: bytes, header: str | None) -> None:
    if not header:
        raise BadSignature(detail="X-Hub-Signature-256 is missing: the webhook needs the "
                           "portal's secret")
    if not hmac.compare_digest(signature(secret, body).encode(), header.strip().encode()):
        raise BadSignature(detail="X-Hub-Signature-256 does not match: wrong webhook secret "
                           "or an altered body")


@dataclass(frozen=True)
class Hook:
    delivery_id: str
    event: str
    payload: dict[str, Any]


def parse(body: bytes, headers: Mapping[str, str]) -> Hook:
    """The delivery id, event and payload of a signed body; Invalid naming what is wrong."""
    delivery_id = (headers.get("X-GitHub-Delivery") or "").strip()
    if not DELIVERY_ID.match(delivery_id):
        raise Invalid(detail="X-GitHub-Delivery is missing or malformed",
                      fields={"X-GitHub-Delivery": ["a GUID, as GitHub sends"]})
    event = (headers.get("X-GitHub-Event") or "").strip()
    if not EVENT.match(event):
        raise Invalid(detail="X-GitHub-Event is missing or malformed",
                      fields={"X-GitHub-Event": ["an event name such as push"]})
    content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    text: bytes | str = body
    if content_type == "application/x-www-form-urlencoded":
        try:
            text = parse_qs(body.decode(), strict_parsing=True)["payload"][0]
        except (UnicodeDecodeError, ValueError, KeyError):
            raise Invalid(detail="the form body has no payload field") from None
    try:
        payload = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise Invalid(detail="the body is not JSON (set the webhook's content type to "
                      "application/json)") from None
    if not isinstance(payload, dict):
        raise Invalid(detail="the payload is not a JSON object")
    return Hook(delivery_id, event, payload)


def text(payload: Any, *path: str, limit: int = 255) -> str:
    """A string field deep in the payload, "" when absent or not a string."""
    value = payload
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value[:limit] if isinstance(value, str) else ""


def number(payload: Any, *path: str) -> int | None:
    value = payload
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
