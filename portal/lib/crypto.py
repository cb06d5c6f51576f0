"""Encryption at rest: an encrypted model field on MultiFernet.

``PORTAL_ENCRYPTION_KEYS`` is a comma-separated list of Fernet keys. The first key
encrypts; every key decrypts, so a new key is put first, ``manage.py
rotate_encryption_keys`` re-encrypts every value, and the old key can then be dropped.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import Expression

PREFIX = "fernet:"


class DecryptionError(Exception):
    pass


@functools.cache
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "PORTAL_ENCRYPTION_KEYS: every key must be a 32-byte url-safe base64 Fernet key"
        ) from None


def fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.ENCRYPTION_KEYS))


def encrypt_bytes(data: bytes) -> bytes:
    return fernet().encrypt(data)


def decrypt_bytes(token: bytes) -> bytes:
    try:
        return fernet().decrypt(token)
    except InvalidToken:
        raise DecryptionError("cannot decrypt: no configured key matches") from None


def encrypt_str(value: str) -> str:
    return PREFIX + encrypt_bytes(value.encode()).decode()


def decrypt_str(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise DecryptionError("value is not encrypted with this portal's format")
    return decrypt_bytes(stored[len(PREFIX) :].encode()).decode()


def rotate_str(stored: str) -> str:
    return PREFIX + fernet().rotate(stored[len(PREFIX) :].encode()).decode()


def derived_key(purpose: str) -> bytes:
    """A key for HMACs, derived from the first encryption key and a purpose label."""
    return hmac.new(settings.ENCRYPTION_KEYS[0].encode(), purpose.encode(), hashlib.sha256).digest()


class EncryptedTextField(models.TextField):
    """A text field stored as a Fernet token. Python sees plaintext, the database never does.

    Values are not searchable or orderable in SQL; ``None`` stays ``NULL``.
    """

    description = "Text encrypted at rest"

    def get_prep_value(self, value: Any) -> str | None:
        value = super().get_prep_value(value)
        if value is None:
            return None
        return encrypt_str(str(value))

    def from_db_value(
        self, value: str | None, expression: Expression, connection: BaseDatabaseWrapper
    ) -> str | None:
        if value is None:
            return None
        return decrypt_str(value)

    def to_python(self, value: Any) -> Any:
        return value


def encrypted_fields() -> Iterator[tuple[type[models.Model], EncryptedTextField]]:
    """Every (model, field) pair using EncryptedTextField, for key rotation and tests."""
    from django.apps import apps

    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                yield model, field


if __name__ == "__main__":
    print(Fernet.generate_key().decode())
