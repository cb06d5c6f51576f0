"""Scrub secret values out of text before it is stored or shown.

A run registers every secret it could see; each known value is replaced by ``***`` in
its plain, base64 (standard and url-safe, at any of the three alignments), JSON-escaped and
percent-encoded (upper- or lower-case hex) forms, so an echo of a kubeconfig token or a
URL-quoted password is caught too. Base64 that a tool wrapped into lines (``base64`` at 76
columns, PEM at 64) is caught piece by piece: a run of base64 characters that lies inside a
long secret's encoding is masked, and so is the part of one that starts or ends it. Short
values are ignored: redacting "a" would shred every line.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_LENGTH = 4
# Wrapped base64: only encodings longer than a wrapped line need the piecewise check ...
WRAP_MIN_FORM = 48
# ... and encodings longer than this are not indexed (8-grams cost ~60 bytes each): a
# kubeconfig or a key is a few KiB; a multi-megabyte blob would cost hundreds of MB.
WRAP_MAX_FORM = 48 * 1024
# A piece counts from EDGE characters where a wrapped secret starts or ends inside a line
# (at most EDGE - 1 characters, 5 bytes, of a long secret can stay visible there). Runs of
# base64 characters are checked from PIECE characters, or from EDGE when they are a whole
# line (the last line of a wrapped block): that keeps ordinary words out of the check.
EDGE = 8
PIECE = 16
_B64_RUN = re.compile(rf"(?m)^[A-Za-z0-9+/_-]{{{EDGE},}}=*$|[A-Za-z0-9+/_-]{{{PIECE},}}=*")
_PERCENT = re.compile(r"%([0-9A-F]{2})")


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


def _pattern_of(form: str) -> str:
    """The regex for one form; percent escapes match in either case (%2F and %2f)."""
    escaped = re.escape(form)
    if "%" not in form:
        return escaped
    return _PERCENT.sub(lambda m: "%(?i:" + m.group(1) + ")", escaped)


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
        # Long base64 encodings, and an index of their EDGE-grams, heads and tails.
        self._long: set[str] = set()
        self._grams: set[str] = set()
        self._heads: dict[str, list[str]] = {}
        self._tails: dict[str, list[str]] = {}
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
            raw = str(secret).encode()
            for form in _base64_forms(raw) - self._long:
                if WRAP_MIN_FORM <= len(form) <= WRAP_MAX_FORM:
                    self._index(form.rstrip("="))

    def _index(self, form: str) -> None:
        self._long.add(form)
        self._grams.update(form[i:i + EDGE] for i in range(len(form) - EDGE + 1))
        self._heads.setdefault(form[:EDGE], []).append(form)
        self._tails.setdefault(form[-EDGE:], []).append(form)

    def __bool__(self) -> bool:
        return bool(self._forms)

    def __call__(self, text: str) -> str:
        if not self._forms or not text:
            return text
        if self._pattern is None:
            ordered = sorted(self._forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(_pattern_of(form) for form in ordered))
        # Wrapped pieces first: once the pattern has masked part of a line, the rest of that
        # line may be too short to recognise.
        if self._long:
            text = _B64_RUN.sub(self._wrapped_piece, text)
        return self._pattern.sub(MASK, text)

    def _wrapped_piece(self, match: re.Match[str]) -> str:
        """One run of base64 characters (a wrapped line, or part of one): mask what of it
        belongs to a long secret's encoding."""
        run = match.group(0)
        body = run.rstrip("=")
        starts_inside, ends_inside = body[:EDGE] in self._grams, body[-EDGE:] in self._grams
        if not (starts_inside or ends_inside):
            return run  # the common case: two set lookups
        if starts_inside and ends_inside and any(body in form for form in self._long):
            return MASK  # wholly inside: a middle line
        # A line where the secret starts: its tail is the head of an encoding ...
        for i in range(len(body) - EDGE + 1) if ends_inside else ():
            for form in self._heads.get(body[i:i + EDGE], ()):
                if form.startswith(body[i:]):
                    return body[:i] + MASK
        # ... or where it ends: its head is the tail of an encoding.
        for end in range(len(body), EDGE - 1, -1) if starts_inside else ():
            for form in self._tails.get(body[end - EDGE:end], ()):
                if form.endswith(body[:end]):
                    return MASK + run[end:]
        return run
