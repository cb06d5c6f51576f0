"""The S3 backend's state lock (``<state key>.tflock``), read for the environment page and
the API, so the owner sees who holds it and whether a portal run does."""

from __future__ import annotations

import json

from envs.models import Environment
from portal.lib.s3 import S3Error, S3Settings, S3Store
from portal.runs.choices import Status


def state_lock_info(env: Environment) -> dict | None:
    """The backend's state lock (S3 ``<key>.tflock``), if any, and whether a portal run
    holds it. None without a lock (or without an S3 backend)."""
    if not env.uses_s3_backend:
        return None
    creds = env.backend_secrets()
    store = S3Store(S3Settings(
        bucket=env.backend_bucket, region=env.backend_region or "auto",
        endpoint_url=env.backend_endpoint or None, access_key=creds.get("access_key_id"),
        secret_key=creds.get("secret_access_key"), max_attempts=1, connect_timeout=2,
        read_timeout=3))
    key = f"{env.state_key}.tflock"
    try:
        info = json.loads(store.get_bytes(key))
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "404"):
            return None
        return {"error": f"could not read the state lock: {exc.code or 'unreachable'}"}
    except Exception as exc:
        return {"error": f"could not read the state lock: {type(exc).__name__}"}
    holder = env.lock_holder()
    portal = holder is not None and holder.status in (Status.QUEUED, Status.RUNNING)
    return {
        "id": str(info.get("ID", "")), "who": str(info.get("Who", "")),
        "operation": str(info.get("Operation", "")), "created": str(info.get("Created", "")),
        "path": str(info.get("Path", key)),
        "held_by_portal": portal, "portal_run": holder.pk if portal else None,
    }
