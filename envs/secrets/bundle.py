"""Encrypted export of every secret, and its import.

Bundle format (version 1), one JSON document::

    {"format": "eaas-portal-secrets", "version": 1,
     "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": "<base64, 16 bytes>"},
     "cipher": "AES-256-GCM", "nonce": "<base64, 12 bytes>",
     "created_at": "<ISO 8601>", "count": <number of secrets>,
     "ciphertext": "<base64>"}

The key is scrypt(passphrase, salt) (32 bytes). The associated data is the canonical JSON
(sorted keys, no spaces) of every field but ``ciphertext``, so changing the header (or the
count) makes decryption fail like a wrong passphrase does: AES-GCM authenticates both. The
plaintext is JSON ``{"environments": {"<env>": [{"name", "value", "version", placement and
policy fields...}]}}``. Nothing but the passphrase is needed to read a bundle: it does not
depend on the portal's encryption keys, so it survives losing them.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from django.conf import settings
from django.db import transaction

from portal.audit.models import Outcome, record
from portal.lib import envconf

log = logging.getLogger(__name__)
FORMAT, VERSION = "eaas-portal-secrets", 1
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
FIELDS = ("k8s_namespace", "k8s_secret", "k8s_key", "tf_variable", "max_age_days",
          "generator", "length", "alphabet", "auto_rotate")
PREFIX = "secrets/"
SUFFIX = ".secrets.json.enc"


class BundleError(Exception):
    """The bundle cannot be read: wrong passphrase, damaged, or not a bundle."""


def _key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    if not passphrase:
        raise BundleError("an empty passphrase is not accepted")
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())


def _aad(header: dict) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def seal(payload: dict, passphrase: str, count: int) -> bytes:
    salt, nonce = os.urandom(16), os.urandom(12)
    header = {"format": FORMAT, "version": VERSION,
              "kdf": {"name": "scrypt", **SCRYPT, "salt": base64.b64encode(salt).decode()},
              "cipher": "AES-256-GCM", "nonce": base64.b64encode(nonce).decode(),
              "created_at": datetime.now(UTC).isoformat(timespec="seconds"), "count": count}
    key = _key(passphrase, salt, **SCRYPT)
    ciphertext = AESGCM(key).encrypt(nonce, json.dumps(payload).encode(), _aad(header))
    return json.dumps({**header, "ciphertext": base64.b64encode(ciphertext).decode()},
                      indent=1).encode()


def unseal(data: bytes, passphrase: str) -> dict:
    try:
        doc = json.loads(data)
        header = {k: v for k, v in doc.items() if k != "ciphertext"}
        if doc.get("format") != FORMAT:
            raise BundleError("not an EaaS Portal secrets bundle")
        if doc.get("version") != VERSION:
            raise BundleError(f"bundle version {doc.get('version')!r} is not supported "
                              f"(this portal reads version {VERSION})")
        kdf = doc["kdf"]
        if kdf.get("name") != "scrypt":
            raise BundleError(f"unknown key derivation {kdf.get('name')!r}")
        key = _key(passphrase, base64.b64decode(kdf["salt"]), int(kdf["n"]), int(kdf["r"]),
                   int(kdf["p"]))
        plain = AESGCM(key).decrypt(base64.b64decode(doc["nonce"]),
                                    base64.b64decode(doc["ciphertext"]), _aad(header))
    except InvalidTag:
        raise BundleError("wrong passphrase, or the bundle was changed or damaged "
                          "(authentication failed); nothing was imported") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"not a readable secrets bundle ({type(exc).__name__})") from None
    return json.loads(plain)


# --- export ---------------------------------------------------------------------------
def snapshot() -> tuple[dict, int]:
    from .models import Secret

    envs: dict[str, list] = {}
    count = 0
    for s in Secret.objects.select_related("environment").order_by("environment__name",
                                                                   "name"):
        if s.value is None:
            continue
        envs.setdefault(s.environment.name, []).append(
            {"name": s.name, "value": s.value, "version": s.version,
             **{f: getattr(s, f) for f in FIELDS}})
        count += 1
    return {"environments": envs}, count


def export_bytes(passphrase: str) -> tuple[bytes, int]:
    payload, count = snapshot()
    return seal(payload, passphrase, count), count


# --- import ---------------------------------------------------------------------------
def import_payload(payload: dict, by: str, skip_missing: bool = False) -> dict:
    """Restore every secret of the bundle in one transaction. A changed value becomes a new
    version (how=import); the Kubernetes Secrets are not touched (the page shows which
    versions the cluster does not hold yet). Returns counts."""
    from envs.models import Environment

    from .actions import commit
    from .models import How, Secret

    wanted = payload.get("environments") or {}
    known = {e.name: e for e in Environment.objects.filter(name__in=list(wanted))}
    missing = sorted(set(wanted) - set(known))
    if missing and not skip_missing:
        raise BundleError(f"no environment named {', '.join(missing)} in this portal: create "
                          "it first, or pass --skip-missing; nothing was imported")
    counts = {"created": 0, "changed": 0, "unchanged": 0, "skipped": 0}
    with transaction.atomic():
        for env_name, rows in wanted.items():
            env = known.get(env_name)
            if env is None:
                counts["skipped"] += len(rows)
                continue
            for row in rows:
                secret, created = Secret.objects.get_or_create(environment=env,
                                                               name=row["name"])
                for f in FIELDS:
                    if f in row:
                        setattr(secret, f, row[f])
                secret.full_clean(exclude=["environment", "value"], validate_unique=False)
                secret.save()
                if secret.value == row["value"]:
                    counts["unchanged"] += 1
                    continue
                commit(secret, row["value"], How.IMPORT, by)
                counts["created" if created else "changed"] += 1
        record("secrets.import", actor=by, **counts)
    return counts


# --- automatic export to the backup bucket ----------------------------------------------
def _setting(name: str, env_name: str, default: str = "") -> str:
    value = getattr(settings, name, None)
    if value is None:
        value = envconf.env_str(env_name, default)
    return value or ""


def passphrase_configured() -> str:
    return _setting("SECRETS_EXPORT_PASSPHRASE", "PORTAL_SECRETS_EXPORT_PASSPHRASE")


def bucket_store():
    """The backup bucket's S3Store (backups' settings when present, else the environment),
    or None when no bucket is configured."""
    from portal.lib.s3 import S3Settings, S3Store

    bucket = _setting("BACKUP_BUCKET", "PORTAL_BACKUP_BUCKET")
    if not bucket:
        return None
    return S3Store(S3Settings(
        bucket=bucket,
        region=_setting("AWS_DEFAULT_REGION", "AWS_DEFAULT_REGION", "us-east-1") or "us-east-1",
        endpoint_url=_setting("S3_ENDPOINT_URL", "PORTAL_S3_ENDPOINT_URL") or None,
        access_key=_setting("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID") or None,
        secret_key=_setting("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY") or None,
        max_attempts=2, connect_timeout=5, read_timeout=30,
    ))


def keep_count() -> int:
    return int(getattr(settings, "SECRETS_EXPORT_KEEP", 30) or 30)


def auto_export_status() -> dict:
    """What the dashboard says: on (and where) or off (and why)."""
    missing = []
    if not passphrase_configured():
        missing.append("PORTAL_SECRETS_EXPORT_PASSPHRASE (or _FILE)")
    if not _setting("BACKUP_BUCKET", "PORTAL_BACKUP_BUCKET"):
        missing.append("PORTAL_BACKUP_BUCKET")
    if missing:
        return {"on": False, "missing": missing}
    return {"on": True, "bucket": _setting("BACKUP_BUCKET", "PORTAL_BACKUP_BUCKET"),
            "prefix": PREFIX, "keep": keep_count()}


def export_to_bucket(store, passphrase: str) -> tuple[str, int]:
    """Write a new bundle under secrets/ and keep only the newest ``keep_count()``."""
    data, count = export_bytes(passphrase)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    key = f"{PREFIX}{stamp}{SUFFIX}"
    store.put_bytes(key, data, content_type="application/json")
    bundles = sorted((o.key for o in store.list(PREFIX) if o.key.endswith(SUFFIX)),
                     reverse=True)
    stale = bundles[keep_count():]
    if stale:
        store.delete_many(stale)
    return key, count


def latest_bundle_key(store) -> str | None:
    keys = sorted(o.key for o in store.list(PREFIX) if o.key.endswith(SUFFIX))
    return keys[-1] if keys else None


def export_to_bucket_if_configured() -> str | None:
    """Called after every committed secret change. Never raises: a failed export is logged
    and audited (without values); the change itself stands."""
    passphrase = passphrase_configured()
    store = bucket_store() if passphrase else None
    if store is None:
        return None
    try:
        key, count = export_to_bucket(store, passphrase)
    except Exception as exc:  # S3 down or misconfigured: the change must still stand
        log.warning("automatic secrets export failed: %s", type(exc).__name__)
        record("secrets.export", outcome=Outcome.FAILURE, actor="system", automatic=True,
               error=f"{type(exc).__name__}: {str(exc)[:300]}")
        return None
    record("secrets.export", actor="system", automatic=True, key=key, count=count)
    return key
