"""The one wrapper around Apprise: parse a channel URL, check where it points, send a message.

Public API
----------
``parse(url) -> ChannelURL``
    What Apprise makes of a URL: its scheme, the service's name, what the owner may see
    (``display``: scheme and host, never user, password, path or query), the hosts it
    connects to (for the SSRF check) and every secret-looking part (for the redactor).
    Raises ``InvalidURL`` with the reason when Apprise cannot parse it.
``check_addresses(channel, allow_private=False)``
    Refuse a URL whose host resolves to a loopback, private, link-local or cloud metadata
    address (``portal.lib.safe_http``'s rules); ``allow_private`` allows all but metadata
    addresses. Raises ``InvalidURL``.
``send(url, title, body, *, timeout) -> Outcome``
    One message through Apprise, limited to ``timeout`` seconds in all. Never raises for a
    delivery failure: the outcome says what went wrong, in Apprise's own words. Nothing is
    logged: Apprise's log lines are captured into the outcome (the caller redacts them).

Apprise logs through the ``apprise`` logger, and some plugins name their URL there (its
debug lines unpack a URL into ``password="..."``; a rejected URL is quoted whole): this
module keeps that logger from reaching the portal's handlers, and a filter on it (and on its
children) rewrites every record first, whoever listens: ``scrub_log_text`` masks each URL's
credentials (password, user token, token-like host, path segments, query values) and
``key=value`` pairs with a secret-looking key, with ``record.args`` folded in and the
traceback text redacted too.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

import apprise
from apprise.manager_plugins import NotificationManager

from portal.lib.redact import Redactor
from portal.lib.safe_http import FetchError, resolve_public

__all__ = ["SCHEME", "ChannelURL", "InvalidURL", "Outcome", "check_addresses", "parse",
           "scrub_log_text", "send"]

_APPRISE_LOG = logging.getLogger("apprise")
# Any URL in a log line (up to whitespace, a quote or a bracket).
_URL_IN_TEXT = re.compile(r"""[a-z][a-z0-9+.-]*://[^\s'"<>()\[\]{}]+""", re.I)
# key=value / key: value / key="value" with a secret-looking key (Apprise's unpacked-URL
# debug lines, a query string quoted without its URL, a dict's repr).
_SECRET_PAIR = re.compile(
    r"""(?P<key>['"]?[\w-]*(?:pass|passwd|password|token|apikey|api_key|secret|key|"""
    r"""webhook|auth|botkey|access)[\w-]*['"]?\s*[=:]\s*)"""
    r"""(?P<value>"[^"]*"|'[^']*'|[^\s&,;'"}]+)""", re.I)


def _mask_pair(match: re.Match[str]) -> str:
    value = match.group("value")
    if value.strip("'\"") in ("", "None", "True", "False"):
        return match.group(0)
    quote = value[0] if value[0] in "'\"" else ""
    return f"{match.group('key')}{quote}***{quote}"


def scrub_log_text(text: str) -> str:
    """A log line with every URL's credentials and every secret-looking ``key=value``
    masked (``***``)."""
    if not text:
        return text
    secrets: list[str] = []
    for found in _URL_IN_TEXT.findall(text):
        secrets += [part for part in _secret_parts(found) if part != found]
        # A URL Apprise shortened ("user:S...9@host") still names its user: mask userinfo.
        userinfo = urlsplit(found).netloc.rpartition("@")[0]
        if userinfo:
            secrets.append(userinfo)
    if secrets:
        text = Redactor(secrets)(text)
    return _SECRET_PAIR.sub(_mask_pair, text)


class _RedactRecords(logging.Filter):
    """Rewrites a record in place before any handler sees it: the message with its args
    folded in, then scrubbed; the traceback and stack text scrubbed too."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what can be read of it
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = scrub_log_text(message), None
        if record.exc_info:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = scrub_log_text(text), None
        elif record.exc_text:
            record.exc_text = scrub_log_text(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub_log_text(record.stack_info)
        return True


_FILTER = _RedactRecords()


def _quiet_apprise() -> None:
    """Apprise's own log lines are captured per call (log_callback); none may reach the
    portal's handlers, which a later logging configuration could have re-enabled. Each
    record of the ``apprise`` logger and its children is redacted first all the same."""
    _APPRISE_LOG.propagate = False
    if not any(isinstance(h, logging.NullHandler) for h in _APPRISE_LOG.handlers):
        _APPRISE_LOG.addHandler(logging.NullHandler())
    children = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
                if name.startswith("apprise.")]
    for logger in [_APPRISE_LOG, *children]:
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


_quiet_apprise()

SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.I)
# Parts of a URL shorter than this are not treated as secrets (they would mask words).
SECRET_MIN = 6
# A user name without a password is a token when it is this long (pover://TOKEN@...); a
# short one is a login ("portal") and stays readable.
USER_TOKEN_MIN = 12


class InvalidURL(Exception):
    """Apprise cannot use the URL, or it points where the portal must not send."""


@dataclass(frozen=True)
class ChannelURL:
    url: str
    scheme: str
    service: str
    display: str
    hosts: tuple[tuple[str, int], ...]
    secrets: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str
    seconds: float


def _is_network_name(host: str) -> bool:
    """An address or a dotted DNS name (ntfy.example.org, 10.0.0.5, ::1, localhost): shown
    to the owner. Cloud services keep a token in the host position (tgram://123456:ABC...,
    slack://T1JJ3T3L2/...): those are never shown."""
    if not host:
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if not all(_LABEL.match(label) for label in labels):
        return False
    if len(labels) == 1:
        return host.lower() == "localhost"
    return not labels[-1].isdigit()


def _may_be_host(host: str) -> bool:
    """Worth resolving for the SSRF check: a network name, or a single label that is not
    all digits (a container name such as ``ntfy`` on the LAN, or a token that resolves to
    nothing)."""
    return _is_network_name(host) or bool(
        host and _LABEL.match(host) and not host.isdigit())


def _secret_parts(url: str) -> list[str]:
    parts = urlsplit(url)
    found = [url]
    netloc = parts.netloc.rsplit("@", 1)
    if len(netloc) == 2:
        user, _, password = netloc[0].partition(":")
        found += [unquote(password), netloc[0]] if password else []
        if not password and len(user) >= USER_TOKEN_MIN:  # a token in the user position
            found.append(unquote(user))
    host = parts.hostname or ""
    if host and not _is_network_name(host) and len(host) >= SECRET_MIN:
        found += [host, netloc[-1]]
    found += [unquote(p) for p in parts.path.split("/") if len(p) >= SECRET_MIN]
    found += [unquote(v) for _k, v in parse_qsl(parts.query) if len(v) >= SECRET_MIN]
    if parts.query:
        found.append(parts.query)
    return [value for value in dict.fromkeys(found) if len(value) >= 4]


def parse(url: str) -> ChannelURL:
    url = (url or "").strip()
    if not url:
        raise InvalidURL("an Apprise URL is required, e.g. ntfy://ntfy.example.org/topic")
    if "://" not in url:
        raise InvalidURL("not an Apprise URL: it needs a scheme such as ntfy://, json://, "
                         "mailto:// or discord://")
    scheme = url.split("://", 1)[0].lower()
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        known = scheme in NotificationManager()
        raise InvalidURL(
            f"Apprise cannot parse this {scheme}:// URL (a missing token, host or target?)"
            if known else f"Apprise knows no service with the scheme {scheme}://")
    host = str(getattr(plugin, "host", "") or "")
    port_value = getattr(plugin, "port", None)
    secure = bool(getattr(plugin, "secure", False))
    port = int(port_value) if port_value else (443 if secure else 80)
    service = str(getattr(plugin, "service_name", "") or scheme)
    hosts = ((host, port),) if _may_be_host(host) else ()
    if _is_network_name(host):
        shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
        display = f"{scheme}://{shown}" + (f":{port_value}" if port_value else "")
    else:
        display = f"{scheme}:// ({service})"
    return ChannelURL(url=url, scheme=scheme, service=service, display=display, hosts=hosts,
                      secrets=tuple(_secret_parts(url)))


def check_addresses(channel: ChannelURL, allow_private: bool = False) -> None:
    for host, port in channel.hosts:
        try:
            resolve_public(host.strip("[]"), port)
        except FetchError as exc:
            text = str(exc)
            if text.startswith("cannot resolve"):
                continue  # a token in the host position, or DNS down: the send will say
            if allow_private and "metadata" not in text:
                continue  # a receiver on the owner's own network; metadata never
            raise InvalidURL(text + ("" if allow_private else " (set PORTAL_NOTIFY_ALLOW_"
                                     "PRIVATE=1 to allow a receiver on your own network)")
                             ) from None


def send(url: str, title: str, body: str, *, timeout: float) -> Outcome:
    started = time.monotonic()
    lines: list[str] = []

    def capture(entry: object, _service: object = None) -> None:
        level = str(getattr(entry, "level", ""))
        if level in ("WARNING", "ERROR", "CRITICAL"):
            lines.append(str(getattr(entry, "message", "")))

    _quiet_apprise()
    box = apprise.Apprise()
    if not box.add(url):
        return Outcome(False, "Apprise cannot parse the channel URL", 0.0)
    try:
        result = box.notify(body=body, title=title, timeout=timeout, log_callback=capture)
    except Exception as exc:  # a plugin bug must not end the delivery pass
        return Outcome(False, f"{type(exc).__name__}: {exc}", time.monotonic() - started)
    seconds = time.monotonic() - started
    if result:
        return Outcome(True, "", seconds)
    status = getattr(getattr(result, "status", None), "name", "FAILURE")
    reason = "; ".join(dict.fromkeys(line.strip() for line in lines if line.strip()))
    if status == "TIMEOUT" and "timed out" not in reason.lower():
        reason = f"no answer within {timeout:g} s" + (f"; {reason}" if reason else "")
    return Outcome(False, (reason or f"delivery failed ({status.lower()})")[:1000], seconds)
