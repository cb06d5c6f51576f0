"""Image references: what a deploy accepts (an explicit tag or digest), their parts, the
digest a pod reports, and the pinned form a promotion deploys."""

from __future__ import annotations

import re

# Docker's reference grammar, narrowed: an explicit tag or digest is required, so a deploy
# never means "whatever latest is today".
PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*" \
         r"[a-zA-Z0-9])?)*(?::[0-9]+)?)"
IMAGE_RE = re.compile(
    rf"^(?P<repo>(?:{DOMAIN}/)?{PATH_COMPONENT}(?:/{PATH_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$")
MAX_LENGTH = 512


def validate_image(image: str) -> str:
    """The image reference, stripped; ValueError says what is wrong."""
    image = (image or "").strip()
    if not image:
        raise ValueError("an image reference is required")
    if len(image) > MAX_LENGTH:
        raise ValueError(f"longer than {MAX_LENGTH} characters")
    match = IMAGE_RE.match(image)
    if not match:
        raise ValueError(f"{image!r} is not an image reference: expected "
                         "registry/repository:tag or registry/repository@sha256:<64 hex>")
    if not match["tag"] and not match["digest"]:
        raise ValueError(f"{image!r} has no tag or digest: name one explicitly "
                         "(registry/repository:tag or @sha256:<digest>)")
    return image


def image_parts(image: str) -> tuple[str, str, str]:
    """(repository, tag, digest) of a valid reference; missing parts are ''."""
    match = IMAGE_RE.match(image or "")
    if not match:
        return image, "", ""
    return match["repo"], match["tag"] or "", match["digest"] or ""


def digest_of(image_id: str) -> str:
    """``sha256:...`` from a pod's imageID (``docker-pullable://repo@sha256:...`` etc.)."""
    found = re.search(r"sha256:[a-f0-9]{64}", image_id or "")
    return found.group(0) if found else ""


def pin(image: str, digest: str) -> str:
    """``repo:tag@sha256:...``: exact (the runtime uses the digest) and still readable."""
    repo, tag, pinned = image_parts(image)
    digest = pinned or digest
    if not digest:
        return image
    return f"{repo}{':' + tag if tag else ''}@{digest}"
