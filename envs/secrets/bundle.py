"""The encrypted bundle every secret is exported in (and imported from).

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
import os
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .models import Secret

FORMAT, VERSION = "eaas-portal-secrets", 1
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
# The placement and policy fields a bundle carries for each secret (with name, value, version).
FIELDS = ("k8s_namespace", "k8s_secret", "k8s_key", "tf_variable", "max_age_days",
          "generator", "length", "alphabet", "auto_rotate")


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
    """The bundle's plaintext: every secret that has a value, by environment; and the count."""
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
