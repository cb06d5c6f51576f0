"""Scrub secret values out of text before it is stored or shown.

A run registers every secret it could see; each known value is replaced by ``***`` in
its plain, base64 (standard and url-safe, at any of the three alignments), JSON-escaped and
percent-encoded forms, so an echo of a kubeconfig token or a URL-quoted password is caught
too. Short values are ignored: redacting "a" would shred every line.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_LENGTH = 4


def _base64_forms(value: bytes) -> set[str]:
    forms = set()
    # A secret embedded in a longer base64 stream lands at one of three byte offsets; the
    # stable middle part of each encoding is what appears regardless of neighbours.
    for offset in range(3):
        padded = b"\0" * offset + value
        for encoder in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encoder(padded).decode()
            start = (offset * 4 + 2) // 3 if offset else 0
            tail = len(padded) % 3
            end = len(encoded) - (4 if tail else 0)
            core = encoded[start:end]
            if len(core) >= MIN_LENGTH:
                forms.add(core)
            if offset == 0:
                forms.add(encoded)
                forms.add(encoded.rstrip("="))
    return forms


def _json_forms(secret: str) -> set[str]:
    # Tools print JSON (terraform show -json, kubectl -o json): a quote, backslash, control
    # or non-ASCII character in a secret appears escaped there, sometimes twice (JSON held
    # in a JSON string, e.g. a policy document).
    forms = set()
    for ascii_only in (True, False):
        once = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        forms.add(once)
        forms.add(json.dumps(once, ensure_ascii=ascii_only)[1:-1])
    return forms


def forms_of(secret: str) -> set[str]:
    if len(secret) < MIN_LENGTH:
        return set()
    raw = secret.encode()
    forms = {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}
    forms |= _json_forms(secret)
    forms |= _base64_forms(raw)
    return {form for form in forms if len(form) >= MIN_LENGTH}


class Redactor:
    def __init__(self, secrets: list[str] | None = None) -> None:
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets or []:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if not secret:
            return
        new = forms_of(str(secret))
        # Multi-line secrets (kubeconfigs, PEM keys) are also redacted line by line.
        for line in str(secret).splitlines():
            if line.strip() != str(secret).strip():
                new |= forms_of(line.strip())
        if new - self._forms:
            self._forms |= new
            self._pattern = None

    def __bool__(self) -> bool:
        return bool(self._forms)

    def __call__(self, text: str) -> str:
        if not self._forms or not text:
            return text
        if self._pattern is None:
            ordered = sorted(self._forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(form) for form in ordered))
        return self._pattern.sub(MASK, text)
