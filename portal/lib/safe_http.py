"""Fetch one file over HTTPS without letting a URL reach places it should not (SSRF).

Public API
----------
``check_url(url, allowed_hosts) -> Target``
    Parse and vet a URL: ``https`` only, no user-info, host on ``allowed_hosts``
    (exact names, or ``*.example.org`` for subdomains), then resolve the host and refuse
    it unless EVERY address is public (no loopback, private, link-local, CGNAT,
    multicast, reserved, unspecified, or cloud metadata address; IPv4-mapped IPv6 is
    unwrapped first). Returns the host, port and the address to connect to.
``resolve_public(host, port=443) -> str``
    The DNS half of ``check_url``: the first address when all are public.
``get(url, *, allowed_hosts, max_bytes=5 MiB, timeout=30) -> bytes``
    GET the URL from the checked address (TLS verified against the host name, SNI set),
    never following redirects (a 3xx is an error naming where it pointed), refusing
    bodies larger than ``max_bytes`` and stopping after ``timeout`` seconds in total.
``FetchError``
    Every refusal and failure; the message never contains credentials.

Why connect to the checked address ourselves: resolving twice (check, then connect)
lets a DNS answer change in between (DNS rebinding). The socket goes to the address that
was checked, and TLS still verifies the certificate for the host name.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["FetchError", "Target", "check_url", "get", "is_public_address", "resolve_public"]

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0

# Metadata services live at link-local addresses (already refused) and, on some clouds,
# at these; named so that the refusal message says what it is.
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("169.254.170.2"),
    ipaddress.ip_address("100.100.100.200"),
    ipaddress.ip_address("fd00:ec2::254"),
}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class FetchError(Exception):
    """A URL was refused or could not be fetched."""


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    port: int
    address: str
    path: str


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in _METADATA or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT):
        return False
    return ip.is_global and not (
        ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast
        or ip.is_reserved or ip.is_unspecified
    )


def _why_not_public(address: str) -> str:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in _METADATA:
        return "a cloud metadata address"
    for attr, label in (("is_loopback", "a loopback address"),
                        ("is_link_local", "a link-local address"),
                        ("is_private", "a private address"),
                        ("is_multicast", "a multicast address"),
                        ("is_unspecified", "an unspecified address")):
        if getattr(ip, attr):
            return label
    return "not a public address"


def host_allowed(host: str, allowed_hosts: Sequence[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in allowed_hosts:
        pattern = pattern.lower().strip()
        if pattern.startswith("*.") and host.endswith(pattern[1:]) and host != pattern[2:]:
            return True
        if host == pattern:
            return True
    return False


def resolve_public(host: str, port: int = 443) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {host}: {exc}") from None
    # An AF_INET/AF_INET6 sockaddr starts with the address as a string (the stubs also
    # allow AF_UNIX-style tuples, which getaddrinfo on a host name does not return).
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise FetchError(f"cannot resolve {host}: no address")
    for address in addresses:
        if not is_public_address(address):
            raise FetchError(f"refused: {host} resolves to {address}, "
                             f"{_why_not_public(address)}")
    return addresses[0]


def check_url(url: str, allowed_hosts: Sequence[str]) -> Target:
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError as exc:
        raise FetchError(f"invalid URL: {exc}") from None
    if parts.scheme.lower() != "https":
        raise FetchError(f"refused: only https URLs are fetched, not {parts.scheme or 'a path'}")
    if parts.username or parts.password:
        raise FetchError("refused: credentials in the URL; use the token field instead")
    host = (parts.hostname or "").lower()
    if not host:
        raise FetchError("invalid URL: no host")
    if not host_allowed(host, allowed_hosts):
        raise FetchError(f"refused: host {host} is not in PORTAL_CATALOG_ALLOWED_HOSTS "
                         f"({', '.join(allowed_hosts) or 'empty'})")
    address = resolve_public(host, port)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(url, host, port, address, path)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to a fixed address, verifying the certificate for ``host``."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        self._ssl_context = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._ssl_context)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._ssl_context.wrap_socket(sock, server_hostname=self.host)


def get(url: str, *, allowed_hosts: Sequence[str], max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = DEFAULT_TIMEOUT, headers: dict[str, str] | None = None) -> bytes:
    target = check_url(url, allowed_hosts)
    deadline = time.monotonic() + timeout
    conn = _PinnedHTTPSConnection(target.host, target.address, target.port, min(timeout, 15))
    try:
        conn.request("GET", target.path, headers={
            "User-Agent": "eaas-portal-catalog", "Accept": "*/*", **(headers or {})})
        response = conn.getresponse()
        if 300 <= response.status < 400:
            where = response.getheader("Location", "?")
            raise FetchError(f"refused: {target.host} answered {response.status} redirecting "
                             f"to {where}; redirects are not followed, use the final URL")
        if response.status != 200:
            raise FetchError(f"{target.host} answered HTTP {response.status} {response.reason}")
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > max_bytes:
            raise FetchError(f"refused: {length} bytes is more than the {max_bytes} byte cap")
        chunks: list[bytes] = []
        total = 0
        while True:
            if time.monotonic() > deadline:
                raise FetchError(f"timed out after {timeout:.0f} s")
            chunk = response.read(64 * 1024)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise FetchError(f"refused: more than the {max_bytes} byte cap")
            chunks.append(chunk)
        return b"".join(chunks)
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"cannot fetch from {target.host}: {exc}") from None
    finally:
        conn.close()
