"""Read the variable NAMES declared in a ``.env.example`` file (never values).

Public API
----------
``parse_env_keys(text) -> list[str]``
    Keys in file order, de-duplicated. Handles blank lines, ``#`` comments,
    ``export KEY=...``, ``KEY = value`` spacing, single/double quoted values,
    and quoted values spanning several lines (their continuation lines are
    skipped, so a value line can never be mistaken for a key). A bare ``KEY``
    line (no ``=``) also declares a key. Lines that are not assignments of a
    valid name (``[A-Za-z_][A-Za-z0-9_.-]*``) are ignored.
``read_env_keys(path, max_bytes=256 KiB) -> list[str]``
    Same for a file; a missing file gives ``[]``; larger files are refused
    with ``ValueError``.

Values are parsed only far enough to know where they end and are discarded
immediately: these files sometimes contain real secrets by mistake.
"""

from __future__ import annotations

import os
import re

__all__ = ["parse_env_keys", "read_env_keys"]

_KEY_RE = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(=|$)")


def _closes(rest: str, quote: str) -> bool:
    """True when ``rest`` (text after an opening quote) contains the closing quote."""
    i = 0
    while True:
        j = rest.find(quote, i)
        if j == -1:
            return False
        if quote == '"' and j > 0 and rest[j - 1] == "\\":
            i = j + 1
            continue
        return True


def parse_env_keys(text: str) -> list[str]:
    keys: list[str] = []
    open_quote: str | None = None
    for line in text.splitlines():
        if open_quote is not None:
            if _closes(line, open_quote):
                open_quote = None
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _KEY_RE.match(stripped)
        if match is None:
            continue
        key = match.group(1)
        if key not in keys:
            keys.append(key)
        value = stripped[match.end() :].lstrip()
        if value[:1] in ("'", '"') and not _closes(value[1:], value[0]):
            open_quote = value[0]
    return keys


def read_env_keys(path: str | os.PathLike[str], max_bytes: int = 256 * 1024) -> list[str]:
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        return []
    if len(data) > max_bytes:
        raise ValueError(f"{path} is larger than {max_bytes} bytes")
    return parse_env_keys(data.decode("utf-8", errors="replace"))
