"""Encryption at rest (MultiFernet field, key rotation) and the run redactor."""

from __future__ import annotations

import base64
from urllib.parse import quote

from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from envs.models import Environment
from portal.lib.redact import Redactor

SECRET = "apiVersion: v1\nusers:\n- user:\n    token: kube-token-Zx81!@#"


def raw_kubeconfig(name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT kubeconfig FROM envs_environment WHERE name = %s", [name])
        return cursor.fetchone()[0]


def test_encrypted_field_stores_only_ciphertext(db):
    Environment.objects.create(name="dev", kubeconfig=SECRET)
    stored = raw_kubeconfig("dev")
    assert stored.startswith("fernet:") and "kube-token" not in stored
    assert Environment.objects.get(name="dev").kubeconfig == SECRET
    Environment.objects.create(name="none")
    assert raw_kubeconfig("none") is None


def test_rotation_reencrypts_with_the_first_key(db, settings):
    Environment.objects.create(name="dev", kubeconfig=SECRET)
    old_cipher = raw_kubeconfig("dev")
    new_key = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [new_key, *settings.ENCRYPTION_KEYS]
    call_command("rotate_encryption_keys")
    rotated = raw_kubeconfig("dev")
    assert rotated != old_cipher
    Fernet(new_key.encode()).decrypt(rotated.removeprefix("fernet:").encode())
    settings.ENCRYPTION_KEYS = [new_key]  # the old key can now be dropped
    assert Environment.objects.get(name="dev").kubeconfig == SECRET


def test_redactor_catches_plain_base64_and_percent_encoded_forms():
    secret = "p@ss w0rd/with+symbols"
    redact = Redactor([secret])
    for form in (secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode(),
                 base64.urlsafe_b64encode(secret.encode()).decode()):
        assert redact(f"before {form} after") == "before *** after", form
    # embedded in a longer base64 blob at every alignment
    for pad in (b"", b"x", b"xy"):
        blob = base64.b64encode(pad + b"prefix:" + secret.encode() + b":suffix").decode()
        assert "***" in redact(blob), pad
    assert redact("nothing here") == "nothing here"


def test_redactor_handles_multiline_secrets_line_by_line():
    redact = Redactor([SECRET])
    assert "kube-token" not in redact("    token: kube-token-Zx81!@#")
    assert Redactor(["ab"])("ab cd") == "ab cd"  # too short to redact safely
