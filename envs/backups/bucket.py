"""The backup bucket from settings, and the Terraform state bucket of an environment.

Settings are read on every call (not at import), so the bucket can be changed without a
restart of anything but the process, and tests can point it at a local S3 server.
"""

from __future__ import annotations

from django.conf import settings

from portal.lib.s3 import S3Error, S3Settings, S3Store

SETTING = "PORTAL_BACKUP_BUCKET"  # the environment variable that names the bucket
ENDPOINT_SETTING = "PORTAL_S3_ENDPOINT_URL"
HOW_TO_SET = (f"set {SETTING} (and {ENDPOINT_SETTING} for R2 or another S3-compatible store) "
              "in the portal's environment and restart it")


class BucketNotConfigured(Exception):
    pass


def configured() -> bool:
    return bool(settings.BACKUP_BUCKET)


def store() -> S3Store:
    bucket = settings.BACKUP_BUCKET
    if not bucket:
        raise BucketNotConfigured(f"no backup bucket: {HOW_TO_SET}")
    return S3Store(S3Settings(
        bucket=bucket,
        region=settings.AWS_DEFAULT_REGION or "us-east-1",
        endpoint_url=settings.S3_ENDPOINT_URL or None,
        access_key=settings.AWS_ACCESS_KEY_ID or None,
        secret_key=settings.AWS_SECRET_ACCESS_KEY or None,
        read_timeout=settings.S3_READ_TIMEOUT,
    ))


def describe() -> str:
    if not settings.BACKUP_BUCKET:
        return "not configured"
    where = settings.S3_ENDPOINT_URL or "AWS S3"
    return f"s3://{settings.BACKUP_BUCKET} ({where})"


def state_versions(env, limit: int = 20) -> dict:
    """Versioning status of the environment's Terraform state bucket and its state versions.

    The S3 backend settings belong to provisioning; they are read defensively (getattr), so
    an environment without them simply shows "no S3 backend configured".
    """
    bucket = getattr(env, "backend_bucket", "") or ""
    if not bucket:
        return {"configured": False}
    key = getattr(env, "state_key", "") or f"envs/{env.name}/terraform.tfstate"
    creds: dict[str, str] = {}
    secrets_fn = getattr(env, "backend_secrets", None)
    if callable(secrets_fn):
        try:
            creds = secrets_fn() or {}
        except Exception:  # an undecryptable value must not break the page
            creds = {}
    region = getattr(env, "backend_region", "") or ""
    st = S3Store(S3Settings(
        bucket=bucket,
        region="us-east-1" if region in ("", "auto") else region,
        endpoint_url=getattr(env, "backend_endpoint", "") or None,
        access_key=creds.get("access_key_id") or settings.AWS_ACCESS_KEY_ID or None,
        secret_key=creds.get("secret_access_key") or settings.AWS_SECRET_ACCESS_KEY or None,
        max_attempts=1, connect_timeout=3, read_timeout=10,
    ))
    out: dict = {"configured": True, "bucket": bucket, "key": key}
    try:
        out["versioning"] = st.versioning_status()
        versions = st.list_versions(key)
        out["versions"] = versions[:limit]
        out["more"] = max(0, len(versions) - limit)
    except S3Error as exc:
        out["error"] = str(exc)
    return out
