"""Taking a self-backup end to end (snapshot -> pack -> store -> read back and prove), and
unpacking a stored one into a staging directory. Django-side but ORM-free, so the
pre-migrate backup at start-up can run while the models are ahead of the database."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import archive, snapshot
from .archive import RecoveryError
from .storage import Storage

Log = Callable[[str], None]


def object_name(now: datetime, tag: str = "") -> str:
    return f"portal-{now:%Y%m%dT%H%M%SZ}{('-' + tag) if tag else ''}{archive.SUFFIX}"


def stage(store: Storage, key: str, passphrase: str, dest: Path) -> dict[str, Any]:
    """Download ``key`` into ``dest`` and prove it whole; returns the manifest."""
    sidecar = store.sidecar(key)
    if sidecar is None:
        raise archive.ArchiveCorrupt(f"{key} has no sidecar (.sha256.json): it was never "
                                     "completed, or it was damaged")
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True, mode=0o700)
    try:
        return archive.unpack(store.chunks(key), sidecar, passphrase, dest)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def take(store: Storage, passphrase: str, workdir: Path, log: Log,
         tag: str = "") -> dict[str, Any]:
    """Snapshot, pack, store, read back. Returns what the run result and the row need."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    snap = snapshot.take(workdir, log)
    timings["snapshot_seconds"] = round(time.monotonic() - started, 3)
    now = datetime.now(UTC)
    key = (getattr(store, "prefix", "") or "") + object_name(now, tag)
    started = time.monotonic()
    packed = archive.pack(workdir / "archive", snap.manifest, snap.members, passphrase)
    for _name, path in snap.members:
        if path.is_relative_to(workdir):
            path.unlink(missing_ok=True)
    timings["pack_seconds"] = round(time.monotonic() - started, 3)
    log(f"Packed and encrypted: {packed.size / 1048576:.1f} MiB; storing as {key} in "
        f"{store.describe()}")
    started = time.monotonic()
    stored = store.put(key, packed.path, packed.sidecar)
    packed.path.unlink(missing_ok=True)
    if stored["sha256"] != packed.sha256:
        store.delete(key)
        raise RecoveryError("the stored object's sha256 differs from the one written")
    timings["store_seconds"] = round(time.monotonic() - started, 3)
    started = time.monotonic()
    check = workdir / "verify"
    try:
        manifest = stage(store, key, passphrase, check)
    finally:
        shutil.rmtree(check, ignore_errors=True)
    if manifest.get("counts") != snap.manifest["counts"]:
        raise RecoveryError("read back, the manifest differs from the one written")
    timings["verify_seconds"] = round(time.monotonic() - started, 3)
    log(f"Read back and verified {key}: sha256 {packed.sha256[:16]}..., every member's "
        "checksum matches its manifest")
    m = snap.manifest
    return {"key": key, "location": store.kind, "where": store.describe(), "size": packed.size,
            "sha256": packed.sha256, "engine": m["engine"],
            "portal_version": m["portal_version"], "counts": m["counts"], "schema": m["schema"],
            "rows": sum(m["counts"].values()), **timings}
