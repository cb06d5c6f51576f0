"""Turn Terraform's JSON (``show -json`` of a plan, a state document) into what the portal
stores and shows: per-resource actions with a before/after diff and counts, outputs and
resources in state, with sensitive values masked."""

from __future__ import annotations

from collections import Counter
from typing import Any

from portal.lib.redact import Redactor

SENSITIVE = "(sensitive)"
UNKNOWN = "(known after apply)"
ACTIONS = ("create", "update", "replace", "delete", "import", "read")


def action_of(actions: list[str], importing: bool = False) -> str:
    """One word per change; an import that changes nothing more is the action "import"
    (an import that also updates keeps "update", flagged with ``import_id``)."""
    if sorted(actions) == ["create", "delete"]:
        return "replace"
    if actions in (["create"], ["update"], ["delete"], ["read"]):
        return actions[0]
    return "import" if importing else "no-op"


def mask(value: Any, sensitive: Any) -> Any:
    """Replace what Terraform marks sensitive (``*_sensitive`` mirrors the value's shape)."""
    if sensitive is True:
        return SENSITIVE
    if isinstance(value, dict) and isinstance(sensitive, dict):
        return {k: mask(v, sensitive.get(k, False)) for k, v in value.items()}
    if isinstance(value, list) and isinstance(sensitive, list):
        return [mask(v, sensitive[i] if i < len(sensitive) else False)
                for i, v in enumerate(value)]
    return value


def _mark_unknown(value: Any, unknown: Any) -> Any:
    if unknown is True:
        return UNKNOWN
    if isinstance(unknown, dict):
        base = dict(value) if isinstance(value, dict) else {}
        for key, flag in unknown.items():
            base[key] = _mark_unknown(base.get(key), flag)
        return base
    if isinstance(unknown, list):  # e.g. a list output whose elements are computed
        items = list(value) if isinstance(value, list) else [None] * len(unknown)
        items += [None] * (len(unknown) - len(items))
        return [_mark_unknown(item, flag) for item, flag in zip(items, unknown, strict=False)]
    return value


def redact(value: Any, redactor: Redactor | None) -> Any:
    """Scrub known secret values from every string (defence in depth: an attribute that
    carries a secret without being marked sensitive)."""
    if not redactor:
        return value
    if isinstance(value, dict):
        return {k: redact(v, redactor) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, redactor) for v in value]
    if isinstance(value, str):
        return redactor(value)
    return value


def import_id(change: dict) -> str:
    """The id an ``import {}`` block adopts (or its identity, Terraform 1.12+), else ""."""
    importing = change.get("importing")
    if not isinstance(importing, dict):
        return ""
    if importing.get("id"):
        return str(importing["id"])
    identity = importing.get("identity")
    return ", ".join(f"{k}={v}" for k, v in sorted(identity.items())) if isinstance(
        identity, dict) else "(import)"


def _diff(before: Any, after: Any) -> list[dict]:
    """Attribute rows that differ (top level; nested values compared whole)."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return [] if before == after else [{"key": "", "before": before, "after": after}]
    rows = []
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        if b != a:
            rows.append({"key": key, "before": b, "after": a})
    return rows


def resource_changes(doc: dict, redactor: Redactor | None = None) -> list[dict]:
    """Changes of a plan (``show -json``), no-ops left out."""
    out = []
    for rc in doc.get("resource_changes") or []:
        change = rc.get("change") or {}
        imported = import_id(change)
        action = action_of(change.get("actions") or [], bool(imported))
        if action == "no-op":
            continue
        before = mask(change.get("before"), change.get("before_sensitive"))
        after = mask(change.get("after"), change.get("after_sensitive"))
        after = _mark_unknown(after, change.get("after_unknown")) if after is not None else None
        item = {
            "address": rc.get("address", ""),
            "type": rc.get("type", ""),
            "action": action,
            "reason": rc.get("action_reason", ""),
            "diff": _diff(before or {}, after or {}),
            "replace_paths": change.get("replace_paths") or [],
            "import_id": imported,
        }
        out.append(redact(item, redactor))
    return out


def output_changes(doc: dict, redactor: Redactor | None = None) -> list[dict]:
    out = []
    for name, change in sorted((doc.get("output_changes") or {}).items()):
        action = action_of(change.get("actions") or [])
        if action == "no-op":
            continue
        before = mask(change.get("before"), change.get("before_sensitive"))
        after = mask(change.get("after"), change.get("after_sensitive"))
        unknown = change.get("after_unknown")
        if unknown is True or (unknown and after in (None, {}, [])):
            after = UNKNOWN
        elif unknown:
            after = _mark_unknown(after, unknown)
        out.append(redact({"name": name, "action": action, "before": before, "after": after},
                          redactor))
    return out


def counts(changes: list[dict]) -> dict[str, int]:
    """Per action; "import" counts every resource adopted by an ``import {}`` block, the
    way Terraform's summary does ("1 to import, 0 to add, 1 to change")."""
    tally = Counter(c["action"] for c in changes)
    tally["import"] = sum(1 for c in changes if c.get("import_id") or c["action"] == "import")
    return {action: tally.get(action, 0) for action in ACTIONS}


def drifted(doc: dict) -> list[dict]:
    """Resources changed outside Terraform, and resources whose configuration is not
    applied, from a normal (refreshing) plan."""
    found = []
    for rc in doc.get("resource_drift") or []:
        actions = (rc.get("change") or {}).get("actions") or []
        found.append({"address": rc.get("address", ""), "reason": "changed outside Terraform",
                      "action": action_of(actions)})
    for change in resource_changes(doc):
        found.append({"address": change["address"], "reason": "configuration not applied",
                      "action": change["action"]})
    return found


# --------------------------------------------------------------------------- state


def _instance_address(resource: dict, instance: dict) -> str:
    prefix = f"{resource['module']}." if resource.get("module") else ""
    if resource.get("mode") == "data":
        prefix += "data."
    address = f"{prefix}{resource.get('type')}.{resource.get('name')}"
    key = instance.get("index_key")
    if isinstance(key, int):
        address += f"[{key}]"
    elif isinstance(key, str):
        address += f'["{key}"]'
    return address


def state_resources(state: dict) -> list[dict]:
    out = []
    for resource in state.get("resources") or []:
        for instance in resource.get("instances") or []:
            out.append({
                "address": _instance_address(resource, instance),
                "type": resource.get("type", ""),
                "mode": resource.get("mode", "managed"),
                "tainted": instance.get("status") == "tainted",
            })
    return sorted(out, key=lambda r: r["address"])


def state_outputs(state: dict, redactor: Redactor | None = None) -> dict[str, dict]:
    out = {}
    for name, output in sorted((state.get("outputs") or {}).items()):
        sensitive = bool(output.get("sensitive"))
        value = SENSITIVE if sensitive else redact(output.get("value"), redactor)
        out[name] = {"value": value, "sensitive": sensitive}
    return out
