"""Component references: what a deploy target names (``component:<namespace>/<name>``, a
bare name meaning ``component:default/<name>``), and their short forms."""

from __future__ import annotations

import re

NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")


def normalize_component(value: str) -> str:
    """``shop`` -> ``component:default/shop``; ``default/shop`` and ``Component:x/Shop``
    are accepted; only Components deploy. ValueError says what is wrong."""
    text = (value or "").strip().lower()
    if not text:
        raise ValueError("a component reference is required")
    kind, _, rest = text.rpartition(":") if ":" in text else ("component", "", text)
    if kind != "component":
        raise ValueError(f"{value!r} is a {kind}; only Components are deployed")
    namespace, _, name = rest.rpartition("/") if "/" in rest else ("default", "", rest)
    for part in (namespace, name):
        if not NAME.match(part):
            raise ValueError(f"{value!r} is not an entity reference "
                             "([component:][namespace/]name)")
    return f"component:{namespace}/{name}"


def short(ref: str) -> str:
    """``component:default/shop`` -> ``shop``; other namespaces keep theirs."""
    body = ref.split(":", 1)[-1]
    return body[len("default/"):] if body.startswith("default/") else body


def entity_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]
