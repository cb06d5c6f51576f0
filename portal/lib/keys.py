"""Key material on disk for the embedded default (no secrets manager, no env vars)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet


def ensure_file(path: Path, make: Callable[[], str]) -> str:
    """Return the content of ``path``, creating it (mode 0600) with ``make()`` if missing.

    The file appears whole or not at all (written aside, then linked into place), so two
    processes starting at once agree on one key and a crash never leaves an empty key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(make() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            tmp.unlink()
    value = path.read_text().strip()
    if not value:
        raise RuntimeError(f"{path} is empty: restore it from a backup (values encrypted with "
                           "the lost key cannot be read), or delete it to start afresh")
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
