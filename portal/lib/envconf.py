"""Typed readers for settings taken from environment variables.

Every reader accepts ``NAME_FILE`` as an alternative to ``NAME`` (container secrets
mounted as files) and fails loudly, naming the variable, when a value cannot be parsed.
Nothing here imports Django: settings.py and tests use the same helpers.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def raw(name: str, default: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    file_var = f"{name}_FILE"
    if env.get(name) not in (None, "") and env.get(file_var):
        raise ConfigError(f"{name} and {file_var} are both set; set only one")
    if env.get(file_var):
        path = Path(env[file_var])
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{file_var}: cannot read {path}: {exc.strerror}") from None
    value = env.get(name)
    return default if value is None else value


def env_str(name: str, default: str = "", env: Mapping[str, str] | None = None) -> str:
    value = raw(name, default, env)
    return "" if value is None else value


def env_bool(name: str, default: bool = False, env: Mapping[str, str] | None = None) -> bool:
    value = raw(name, None, env)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name}: expected a boolean (true/false/1/0/yes/no), got {value!r}")


def env_int(
    name: str,
    default: int,
    env: Mapping[str, str] | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    value = raw(name, None, env)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ConfigError(f"{name}: expected an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ConfigError(f"{name}: must be >= {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ConfigError(f"{name}: must be <= {maximum}, got {number}")
    return number


def env_list(
    name: str, default: list[str] | None = None, env: Mapping[str, str] | None = None
) -> list[str]:
    value = raw(name, None, env)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.replace("\n", ",").split(",") if item.strip()]


def env_int_list(name: str, env: Mapping[str, str] | None = None) -> list[int]:
    out: list[int] = []
    for item in env_list(name, env=env):
        if not item.isdigit():
            raise ConfigError(f"{name}: expected numeric ids separated by commas, got {item!r}")
        out.append(int(item))
    return out


def env_networks(
    name: str, env: Mapping[str, str] | None = None
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for item in env_list(name, env=env):
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"{name}: {item!r} is not an IP address or CIDR network") from None
    return nets


def env_url(
    name: str, default: str, schemes: tuple[str, ...], env: Mapping[str, str] | None = None
) -> str:
    value = env_str(name, default, env).strip()
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise ConfigError(f"{name}: expected a {'/'.join(schemes)} URL, got {value!r}")
    return value.rstrip("/")


@dataclass(frozen=True)
class PublicUrl:
    url: str
    scheme: str
    host: str

    @property
    def secure(self) -> bool:
        return self.scheme == "https"

    @property
    def hostname(self) -> str:
        """The host without the port, as ALLOWED_HOSTS wants it (IPv6 in brackets)."""
        name = urlsplit(self.url).hostname or ""
        return f"[{name}]" if ":" in name else name

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}"


def public_url(name: str = "PORTAL_PUBLIC_URL", env: Mapping[str, str] | None = None) -> PublicUrl:
    value = env_url(name, "http://127.0.0.1:8000", ("http", "https"), env)
    parts = urlsplit(value)
    return PublicUrl(url=value, scheme=parts.scheme, host=parts.netloc)


def database_config(url: str, base_dir: Path) -> dict[str, Any]:
    """Turn a database URL into a Django DATABASES entry.

    Supports ``postgres://``, ``postgresql://`` and ``sqlite:///path`` (relative paths are
    taken from ``base_dir``; ``sqlite:////abs/path`` is absolute).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme == "sqlite":
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not path:
            raise ConfigError("DATABASE_URL: sqlite URL needs a path, e.g. sqlite:///var/db.sqlite3")
        full = Path(path) if Path(path).is_absolute() else base_dir / path
        return sqlite_config(full)
    if scheme in ("postgres", "postgresql", "pgsql"):
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ConfigError("DATABASE_URL: a PostgreSQL URL must name the database")
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    raise ConfigError(
        f"DATABASE_URL: unsupported scheme {parts.scheme!r} (use postgres:// or sqlite:///)"
    )


def sqlite_config(path: Path) -> dict[str, Any]:
    # WAL lets the web server read while the worker writes; IMMEDIATE transactions take
    # the write lock up front so two writers queue on the busy timeout instead of failing
    # half way with "database is locked".
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        # Keep the connection (per thread) between requests: opening one and running the
        # PRAGMAs below costs more than most pages' queries.
        "CONN_MAX_AGE": 600,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;"
            ),
        },
        "TEST": {"NAME": str(path.with_name(f"test_{path.name}"))},
    }
