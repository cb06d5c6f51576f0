"""Terraform variable types: a type constraint as the stack declares it (``string``,
``map(string)``, ``object({name = string, size = optional(number, 3)})`` ...) read into a
small tree, and a value checked against it the way Terraform converts input variables
(a number or a bool is a fine string, ``"5"`` a fine number, ``"true"`` a fine bool).

``check(type, value)`` returns the value as Terraform would take it, or raises TypeMismatch
saying where (``labels.team``, ``cidrs[2]``) and what was expected. No Django here.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

PRIMITIVES = ("string", "number", "bool", "any")
COLLECTIONS = ("list", "set", "map")
_TOKEN = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_-]*)|(\"(?:[^\"\\]|\\.)*\")|([(){}\[\],=:])"
                    r"|(-?[0-9][0-9.eE+-]*))")


@dataclass
class VarType:
    kind: str  # string, number, bool, any, list, set, map, tuple, object
    element: VarType | None = None  # list, set, map
    items: list[VarType] = field(default_factory=list)  # tuple
    attributes: dict[str, VarType] = field(default_factory=dict)  # object
    optional: set[str] = field(default_factory=set)  # object attributes that may be left out

    @property
    def structured(self) -> bool:
        """Whether the page edits it as JSON (everything but string, number and bool)."""
        return self.kind not in ("string", "number", "bool")

    def __str__(self) -> str:
        if self.kind in COLLECTIONS:
            return f"{self.kind}({self.element})"
        if self.kind == "tuple":
            return "tuple([" + ", ".join(str(t) for t in self.items) + "])"
        if self.kind == "object":
            parts = [f"{k} = optional({t})" if k in self.optional else f"{k} = {t}"
                     for k, t in self.attributes.items()]
            return "object({" + ", ".join(parts) + "})"
        return self.kind


ANY = VarType("any")


class TypeMismatch(ValueError):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.message = message


# --------------------------------------------------------------------------- reading a type


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"unreadable type at {text[pos:pos + 20]!r}")
        out.append(next(g for g in match.groups() if g is not None))
        pos = match.end()
    return out


class _Reader:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if not token or (expected is not None and token != expected):
            raise ValueError(f"expected {expected or 'more'} in the type, found {token!r}")
        self.pos += 1
        return token

    def skip_value(self) -> None:
        """An optional attribute's default: skipped (Terraform fills it in)."""
        depth = 0
        while self.peek():
            token = self.peek()
            if token in "([{":
                depth += 1
            elif token in ")]}":
                if depth == 0:
                    return
                depth -= 1
            elif token == "," and depth == 0:
                return
            self.pos += 1

    def type(self) -> VarType:
        name = self.take()
        if name in PRIMITIVES:
            return VarType(name)
        self.take("(")
        if name in COLLECTIONS:
            result = VarType(name, element=self.type())
        elif name == "tuple":
            self.take("[")
            items = []
            while self.peek() != "]":
                items.append(self.type())
                if self.peek() == ",":
                    self.take(",")
            self.take("]")
            result = VarType("tuple", items=items)
        elif name == "object":
            self.take("{")
            result = VarType("object")
            while self.peek() != "}":
                key = self.take().strip('"')
                self.take("=") if self.peek() == "=" else self.take(":")
                if self.peek() == "optional":
                    self.take()
                    self.take("(")
                    result.attributes[key] = self.type()
                    if self.peek() == ",":
                        self.take(",")
                        self.skip_value()
                    self.take(")")
                    result.optional.add(key)
                else:
                    result.attributes[key] = self.type()
                if self.peek() == ",":
                    self.take(",")
            self.take("}")
        else:
            raise ValueError(f"unknown type {name!r}")
        self.take(")")
        return result


def parse_type(text: Any) -> VarType:
    """A declared type constraint (as python-hcl2 gives it: ``${map(string)}``); no type
    declared is ``any``. Raises ValueError for a constraint it cannot read."""
    if text is None or text == "":
        return ANY
    text = str(text).strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    reader = _Reader(_tokens(text))
    result = reader.type()
    if reader.peek():
        raise ValueError(f"unexpected {reader.peek()!r} after the type")
    return result


# --------------------------------------------------------------------------- checking a value


def _describe(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _at(where: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else str(key)


def check(vartype: VarType, value: Any, where: str = "") -> Any:
    """``value`` as Terraform takes it for ``vartype``, or TypeMismatch."""
    kind = vartype.kind
    if value is None:
        return None  # null: the default (Terraform's nullable variables)
    if kind == "any":
        return value
    if kind == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return json.dumps(value)
        if isinstance(value, str):
            return value
        raise TypeMismatch(where, f"expected a string, got {_describe(value)}")
    if kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            if isinstance(value, float) and not math.isfinite(value):
                raise TypeMismatch(where, "expected a finite number")
            return value
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                number = math.nan
            if math.isfinite(number) and value.strip():
                return int(number) if number.is_integer() and "." not in value \
                    and "e" not in value.lower() else number
        raise TypeMismatch(where, f"expected a number, got {_describe(value)}")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise TypeMismatch(where, f"expected true or false, got {_describe(value)}")
    if kind in ("list", "set"):
        if not isinstance(value, list):
            raise TypeMismatch(where, f"expected a list, got {_describe(value)}")
        assert vartype.element is not None
        return [check(vartype.element, v, _at(where, i)) for i, v in enumerate(value)]
    if kind == "tuple":
        if not isinstance(value, list) or len(value) != len(vartype.items):
            raise TypeMismatch(where, f"expected a list of {len(vartype.items)} items, "
                               f"got {_describe(value)}")
        pairs = enumerate(zip(vartype.items, value, strict=True))
        return [check(t, v, _at(where, i)) for i, (t, v) in pairs]
    if kind == "map":
        if not isinstance(value, dict):
            raise TypeMismatch(where, f"expected an object of name -> value, "
                               f"got {_describe(value)}")
        assert vartype.element is not None
        return {k: check(vartype.element, v, _at(where, k)) for k, v in value.items()}
    if kind == "object":
        if not isinstance(value, dict):
            raise TypeMismatch(where, f"expected an object, got {_describe(value)}")
        extra = sorted(set(value) - set(vartype.attributes))
        if extra:
            known = ", ".join(vartype.attributes) or "none"
            raise TypeMismatch(where, f'unexpected attribute "{extra[0]}" (the type has '
                               f"{known})")
        missing = [k for k in vartype.attributes if k not in value and k not in vartype.optional]
        if missing:
            raise TypeMismatch(where, f'attribute "{missing[0]}" is required')
        return {k: check(vartype.attributes[k], v, _at(where, k)) for k, v in value.items()}
    return value
