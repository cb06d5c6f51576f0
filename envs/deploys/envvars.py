"""What a release records of a workload's environment, and how a rollback puts it back.

A release keeps only what may be shown: plain values, and for anything secret the name and
where it points (never a value). Deployments: the container's ``env``/``envFrom``. KuberoApps:
the app's ``spec.envVars``, where Kubero keeps secrets as plain values too, so an entry whose
name or value looks secret is recorded by name only and never restored from a release (the
value it has now is kept)."""

from __future__ import annotations

import re

# Names that usually carry credentials (DB_PASSWORD, STRIPE_SECRET_KEY, GITHUB_TOKEN, ...).
SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)?|secret|token|credential|private|api_?key|access_?key|(^|_)key$"
    r"|(^|_)dsn$|auth|cookie|session|salt|signing|cert",
    re.IGNORECASE)
# A value that embeds credentials: scheme://user:password@host, or a PEM block.
SECRET_VALUE = re.compile(r"://[^/\s:@]+:[^/\s@]+@|-----BEGIN [A-Z ]*PRIVATE KEY-----")
NOT_RECORDED = "secret-looking value (not recorded)"


def looks_secret(name: str, value: object) -> bool:
    return bool(SECRET_NAME.search(name)) or (isinstance(value, str)
                                              and bool(SECRET_VALUE.search(value)))


def _reference(source: dict) -> str:
    for key, ref in source.items():
        if isinstance(ref, dict) and ref:
            what = "/".join(str(ref[k]) for k in ("name", "key", "fieldPath", "resource")
                            if ref.get(k))
            return f"{key} {what}"
    return "valueFrom"


def env_record(container: dict) -> dict:
    """A Deployment container's non-secret env: plain values, and only what valueFrom /
    envFrom point at (never the values behind them)."""
    plain, refs, env_from = {}, {}, []
    for e in container.get("env") or []:
        source = e.get("valueFrom")
        if source is None:
            plain[e["name"]] = e.get("value", "")
        else:
            refs[e["name"]] = _reference(source)
    for e in container.get("envFrom") or []:
        for key in ("secretRef", "configMapRef"):
            if e.get(key):
                env_from.append(f"{key} {e[key].get('name')}" + (
                    f" (prefix {e['prefix']})" if e.get("prefix") else ""))
    return {"plain": plain, "refs": refs, "env_from": env_from}


def kubero_env_record(env_vars: list[dict]) -> dict:
    """A KuberoApp's spec.envVars, recorded like a container's env; secret-looking entries
    by name only."""
    plain, refs = {}, {}
    for e in env_vars:
        if e.get("valueFrom") is not None:
            refs[e["name"]] = _reference(e["valueFrom"])
        elif looks_secret(e["name"], e.get("value")):
            refs[e["name"]] = NOT_RECORDED
        else:
            plain[e["name"]] = "" if e.get("value") is None else str(e.get("value"))
    return {"plain": plain, "refs": refs, "env_from": []}


def restore_env_vars(current: list[dict], plain: dict) -> list[dict]:
    """The envVars list a rollback sets: the release's plain values, with every entry that
    is secret (secret-looking or a reference) kept exactly as it is now, in place; plain
    entries the release did not have are dropped."""
    result, seen = [], set()
    for e in current:
        name = e["name"]
        seen.add(name)
        if e.get("valueFrom") is not None or looks_secret(name, e.get("value")):
            result.append(e)
        elif name in plain:
            result.append({**e, "value": str(plain[name])})
    result += [{"name": k, "value": str(v)} for k, v in plain.items() if k not in seen]
    return result


def missing_secret_entries(current: list[dict], record: dict) -> list[str]:
    """Secret entries a release had that the app no longer has (they cannot come back)."""
    now = {e["name"] for e in current}
    return sorted(k for k in (record.get("refs") or {}) if k not in now)
