"""Every secret value the portal knows, in one redactor for notification texts.

A run's redactor holds what that run saw; a message may mention anything (an error quoting
a URL, a digest of many runs), so this one holds everything: every value kept in an
encrypted field (kubeconfigs, tokens, database URLs, Terraform secret variables, secret
values, pending rotations, backup keys, channel URLs, catalog tokens), the parts inside
them (a URL's password, a kubeconfig's token, a JSON object's values), the sensitive
Terraform outputs, and the portal's own keys and passwords from the settings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

import yaml
from django.apps import apps
from django.conf import settings

from portal.lib import notify
from portal.lib.crypto import encrypted_fields
from portal.lib.redact import Redactor

# Blobs (plans, state files) are not secrets themselves; what is secret in them lives in
# the fields above too. A secret value is at most 64 KiB (envs.secrets).
MAX_VALUE = 64 * 1024
# Outputs are kept whole, sensitive or not: only the sensitive ones are secrets.
SKIP_FIELDS = {("provisioning", "statesnapshot", "output_values")}


def _parts(value: str) -> list[str]:
    """The value, and the secrets inside it a message could quote on their own."""
    found = [value]
    text = value.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            found += [v if isinstance(v, str) else json.dumps(v) for v in data.values() if v]
    if "://" in text and "\n" not in text:
        try:
            parts = urlsplit(text)
            if parts.password:
                found += [parts.password, unquote(parts.password)]
        except ValueError:
            pass
        if notify.SCHEME.match(text):
            try:
                found += list(notify.parse(text).secrets)
            except notify.InvalidURL:
                pass
    if "users:" in text:
        found += _kubeconfig_credentials(text)
    return found


def _kubeconfig_credentials(text: str) -> list[str]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    users = data.get("users") if isinstance(data, dict) else None
    found = []
    for entry in users if isinstance(users, list) else []:
        fields = entry.get("user") if isinstance(entry, dict) else None
        for key, item in (fields or {}).items() if isinstance(fields, dict) else ():
            if key in ("token", "password", "client-key-data", "client-certificate-data"):
                found.append(str(item))
    return found


def stored_secrets() -> Iterable[str]:
    for model, field in encrypted_fields():
        meta = model._meta
        if (meta.app_label, meta.model_name, field.name) in SKIP_FIELDS:
            continue
        values = model._default_manager.exclude(**{f"{field.name}__isnull": True}).values_list(
            field.name, flat=True)
        for value in values:
            if value and len(value) <= MAX_VALUE:
                yield from _parts(str(value))
    yield from _sensitive_outputs()


def _sensitive_outputs() -> Iterable[str]:
    if not apps.is_installed("envs.provisioning"):
        return
    snapshot = apps.get_model("provisioning", "StateSnapshot")
    for outputs, raw in snapshot.objects.exclude(output_values__isnull=True).values_list(
            "outputs", "output_values"):
        try:
            values = json.loads(raw or "{}")
        except ValueError:
            continue
        for name, meta in (outputs or {}).items():
            if isinstance(meta, dict) and meta.get("sensitive") and name in values:
                value = values[name]
                yield value if isinstance(value, str) else json.dumps(value)


def settings_secrets() -> list[str]:
    found = [settings.SECRET_KEY, *settings.ENCRYPTION_KEYS]
    for name in ("AWS_SECRET_ACCESS_KEY", "SOCIAL_AUTH_GITHUB_SECRET",
                 "SECRETS_EXPORT_PASSPHRASE", "HEARTBEAT_URL"):
        found.append(str(getattr(settings, name, "") or ""))
    for url in (getattr(settings, "DRILL_DATABASE_URL", ""),):
        found += _parts(url) if url else []
    found.append(str(settings.DATABASES["default"].get("PASSWORD") or ""))
    return [value for value in found if value]


def portal_redactor(extra: Iterable[str] = ()) -> Redactor:
    redactor = Redactor()
    for value in [*settings_secrets(), *stored_secrets(), *extra]:
        redactor.add(value)
    return redactor
