"""Key material on disk for the embedded default (no secrets manager, no env vars)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet


def ensure_file(path: Path, make) -> str:
    """Return the content of ``path``, creating it (mode 0600) with ``make()`` if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        value = make()
        handle.write(value + "\n")
    return value


def new_fernet_key() -> str:
    return Fernet.generate_key().decode()


def new_secret_key() -> str:
    return secrets.token_urlsafe(64)


def ensure_embedded_keys(data_dir: Path) -> tuple[str, str]:
    """Create the encryption key and Django secret key files if they do not exist."""
    fernet = ensure_file(data_dir / "encryption.key", new_fernet_key)
    secret = ensure_file(data_dir / "secret.key", new_secret_key)
    return fernet, secret


if __name__ == "__main__":  # used by `make setup`
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "var")
    ensure_embedded_keys(target)
    print(f"keys ready in {target}/ (encryption.key, secret.key; mode 0600)")
