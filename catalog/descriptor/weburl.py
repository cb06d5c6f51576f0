"""Whether a string parses as an absolute URL under the WHATWG URL standard.

Backstage checks ``metadata.links[].url`` with ``new URL(value)`` (its
``CommonValidatorFunctions.isValidUrl``), i.e. the WHATWG parser with no base
URL. ``is_valid_url`` answers the same question without raising, for any
input: Python's ``urllib.parse`` accepts what WHATWG refuses (a port above
65535, a space in the host) and raises on what it cannot split (an unclosed
IPv6 bracket), so it is not used for this.

What is implemented (the parts of the standard that decide validity):
* leading/trailing C0 control and space stripped, tab/CR/LF removed;
* a scheme is required (``[A-Za-z][A-Za-z0-9+.-]*:``), there is no base;
* special schemes (http, https, ws, wss, ftp, file): an authority after any
  number of ``/`` or ``\\``; a non-empty host (except ``file``); a bracketed
  host must be a valid IPv6 address and be closed; a domain is
  percent-decoded, IDNA-mapped when not ASCII, must hold no forbidden domain
  code point, and when it ends in a number is parsed as IPv4 (each part
  decimal, ``0x`` hex or ``0`` octal, the last part below 256**(5-n));
* other schemes: with ``//`` an opaque host without forbidden host code
  points; without, any opaque path;
* a port is digits only and at most 65535.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import unquote

import idna  # installed with requests

__all__ = ["is_valid_url"]

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_SPECIAL = frozenset({"http", "https", "ws", "wss", "ftp", "file"})
_FORBIDDEN_HOST = frozenset(" #/:<>?@[\\]^|\x00\t\n\r")
_FORBIDDEN_DOMAIN = _FORBIDDEN_HOST | frozenset("%\x7f") | frozenset(chr(c) for c in range(0x20))
_STRIP = "".join(chr(c) for c in range(0x21))


def is_valid_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return _parse(value)
    except (ValueError, UnicodeError):  # nothing below should raise; never let it escape
        return False


def _parse(value: str) -> bool:
    text = value.strip(_STRIP).replace("\t", "").replace("\n", "").replace("\r", "")
    m = _SCHEME_RE.match(text)
    if not m:
        return False
    scheme = m.group(0)[:-1].lower()
    rest = text[m.end():]
    if scheme in _SPECIAL:
        rest = rest.lstrip("/\\")
        authority = re.split(r"[/\\?#]", rest, maxsplit=1)[0]
        return _authority_ok(authority, special=True, empty_host_ok=scheme == "file")
    if rest.startswith("//"):
        authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
        return _authority_ok(authority, special=False, empty_host_ok=True)
    return True  # an opaque path (mailto:, urn:, ...)


def _authority_ok(authority: str, *, special: bool, empty_host_ok: bool) -> bool:
    hostport = authority.rsplit("@", 1)[-1]
    if hostport.startswith("["):
        end = hostport.find("]")
        if end == -1:
            return False
        host, after = hostport[: end + 1], hostport[end + 1 :]
        if after and not after.startswith(":"):
            return False
        port = after[1:] if after else ""
    else:
        host, _, port = hostport.partition(":")
    if port and not (port.isascii() and port.isdigit() and int(port) <= 65535):
        return False
    if host.startswith("["):
        inner = host[1:-1]
        if "%" in inner:
            return False
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            return False
        return True
    if not host:
        return empty_host_ok
    if not special:
        return not any(c in _FORBIDDEN_HOST for c in host)
    return _domain_ok(host)


def _domain_ok(host: str) -> bool:
    domain = unquote(host, errors="strict").lower()
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True, transitional=False).decode("ascii")
        except idna.IDNAError:
            return False
    if not domain or any(c in _FORBIDDEN_DOMAIN for c in domain):
        return False
    labels = domain.split(".")
    if labels[-1] == "" and len(labels) > 1:
        labels = labels[:-1]
    if _is_number(labels[-1]):
        return _ipv4_ok(labels)
    return True


def _number(part: str) -> int | None:
    if part == "":
        return None
    if part[:2] in ("0x", "0X"):
        digits = part[2:]
        if digits == "":
            return 0
        return int(digits, 16) if re.fullmatch(r"[0-9A-Fa-f]+", digits) else None
    if len(part) > 1 and part[0] == "0":
        return int(part[1:], 8) if re.fullmatch(r"[0-7]+", part[1:]) else None
    return int(part) if part.isascii() and part.isdigit() else None


def _is_number(label: str) -> bool:
    if label.isascii() and label.isdigit():
        return True
    return label[:2] in ("0x", "0X") and re.fullmatch(r"[0-9A-Fa-f]*", label[2:]) is not None


def _ipv4_ok(labels: list[str]) -> bool:
    if len(labels) > 4:
        return False
    numbers = [_number(p) for p in labels]
    if any(n is None for n in numbers):
        return False
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]):
        return False
    return values[-1] < 256 ** (5 - len(values))
