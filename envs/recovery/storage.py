"""Where self-backups live: ``PORTAL_BACKUP_BUCKET`` under ``PORTAL_SELF_BACKUP_PREFIX``
(off the machine), or without a bucket ``PORTAL_DATA_DIR/self-backups/`` (the same disk:
it protects against mistakes, not against losing the machine).

Both keep an object and its sidecar ``<name>.sha256.json`` (sha256, size, key derivation);
settings are read on every call.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings

from envs.backups import bucket
from portal.lib.s3 import SIDECAR_SUFFIX, S3Error, S3Store, sidecar_key

from .archive import SUFFIX, RecoveryError, file_sha256

MIB = 1024 * 1024


@dataclass(frozen=True)
class Stored:
    key: str
    size: int
    modified: datetime


def local_dir() -> Path:
    return Path(settings.DATA_DIR) / "self-backups"


class Storage:
    offsite = False
    kind = ""

    def describe(self) -> str:
        raise NotImplementedError

    def put(self, key: str, path: Path, sidecar: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def chunks(self, key: str) -> Iterator[bytes]:
        raise NotImplementedError

    def sidecar(self, key: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def list(self) -> list[Stored]:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def latest(self) -> Stored | None:
        found = self.list()
        return found[0] if found else None


class BucketStorage(Storage):
    offsite, kind = True, "bucket"

    def __init__(self, store: S3Store, prefix: str) -> None:
        self.store, self.prefix = store, prefix

    def describe(self) -> str:
        return f"s3://{self.store.bucket}/{self.prefix} ({bucket.describe()})"

    def put(self, key: str, path: Path, sidecar: dict[str, Any]) -> dict[str, Any]:
        def chunks() -> Iterator[bytes]:
            with open(path, "rb") as handle:
                while data := handle.read(MIB):
                    yield data
        try:
            up = self.store.upload_stream(key, chunks(), sidecar=sidecar,
                                          metadata={"format": str(sidecar.get("format", ""))})
        except S3Error as exc:
            raise RecoveryError(f"upload of the self-backup failed: {exc}") from None
        return {"sha256": up.sha256, "size": up.size}

    def chunks(self, key: str) -> Iterator[bytes]:
        try:
            yield from self.store.download_stream(key)
        except S3Error as exc:
            raise RecoveryError(f"download of {key} failed: {exc}") from None

    def sidecar(self, key: str) -> dict[str, Any] | None:
        try:
            return self.store.read_sidecar(key)
        except S3Error as exc:
            raise RecoveryError(f"cannot read the sidecar of {key}: {exc}") from None

    def list(self) -> list[Stored]:
        try:
            found = [Stored(o.key, o.size, o.last_modified) for o in self.store.list(self.prefix)
                     if o.key.endswith(SUFFIX)]
        except S3Error as exc:
            raise RecoveryError(f"cannot list the self-backups: {exc}") from None
        return sorted(found, key=lambda s: (s.modified, s.key), reverse=True)

    def delete(self, key: str) -> None:
        try:
            self.store.delete_many([key, sidecar_key(key)])
        except S3Error as exc:
            raise RecoveryError(f"cannot delete {key}: {exc}") from None


class LocalStorage(Storage):
    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return f"{self.root}/ (this machine's disk)"

    def _path(self, key: str) -> Path:
        name = Path(key).name
        if name != key or not name.endswith(SUFFIX):
            raise RecoveryError(f"{key!r} is not a self-backup name")
        return self.root / name

    def put(self, key: str, path: Path, sidecar: dict[str, Any]) -> dict[str, Any]:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self._path(key)
        body = {"sha256": file_sha256(path), "size": path.stat().st_size, **sidecar}
        side = target.with_name(target.name + SIDECAR_SUFFIX)
        tmp = side.with_name(f".{side.name}.tmp")
        tmp.write_text(json.dumps(body, sort_keys=True))
        os.replace(path, target)
        os.replace(tmp, side)
        return {"sha256": body["sha256"], "size": body["size"]}

    def chunks(self, key: str) -> Iterator[bytes]:
        try:
            with open(self._path(key), "rb") as handle:
                while data := handle.read(MIB):
                    yield data
        except FileNotFoundError:
            raise RecoveryError(f"no self-backup {key} in {self.root}") from None

    def sidecar(self, key: str) -> dict[str, Any] | None:
        side = self._path(key).with_name(key + SIDECAR_SUFFIX)
        try:
            return json.loads(side.read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise RecoveryError(f"the sidecar of {key} is unreadable: {exc}") from None

    def list(self) -> list[Stored]:
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.glob("*" + SUFFIX):
            st = path.stat()
            found.append(Stored(path.name, st.st_size,
                                datetime.fromtimestamp(st.st_mtime, UTC)))
        return sorted(found, key=lambda s: (s.modified, s.key), reverse=True)

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        path.with_name(key + SIDECAR_SUFFIX).unlink(missing_ok=True)


def storage(directory: Path | None = None) -> Storage:
    """The configured place (or a directory given on the command line)."""
    if directory is not None:
        return LocalStorage(directory)
    if settings.BACKUP_BUCKET:
        return BucketStorage(bucket.store(), settings.SELF_BACKUP_PREFIX)
    return LocalStorage(local_dir())
