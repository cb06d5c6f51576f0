"""Small pure helpers: component refs, image references, environment order, and the
defensive look-ups into apps built alongside this one (catalog annotations, Terraform
outputs, secret versions), which may not exist yet."""

from __future__ import annotations

import logging
import re

log = logging.getLogger(__name__)

# Docker's reference grammar, narrowed: an explicit tag or digest is required, so a deploy
# never means "whatever latest is today".
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*" \
          r"[a-zA-Z0-9])?)*(?::[0-9]+)?)"
IMAGE_RE = re.compile(
    rf"^(?P<repo>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$")
_REF_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")
TIER_ORDER = ["dev", "test", "prod"]


def validate_image(image: str) -> str:
    """The image reference, stripped; ValueError says what is wrong."""
    image = (image or "").strip()
    if not image:
        raise ValueError("an image reference is required")
    if len(image) > 512:
        raise ValueError("longer than 512 characters")
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


def normalize_component(value: str) -> str:
    """``shop`` -> ``component:default/shop``; ``default/shop`` and ``Component:x/Shop``
    are accepted; only Components deploy. ValueError says what is wrong."""
    text = (value or "").strip().lower()
    if not text:
        raise ValueError("a component reference is required")
    kind, _, rest = text.rpartition(":") if ":" in text else ("component", "", text)
    if kind != "component":
        raise ValueError(f"{value!r} is a {kind}; only Components are deployed")
    namespace, _, name = rest.rpartition("/") if "/" in rest else ("default", "", rest)
    for part in (namespace, name):
        if not _REF_NAME.match(part):
            raise ValueError(f"{value!r} is not an entity reference "
                             "([component:][namespace/]name)")
    return f"component:{namespace}/{name}"


def short(ref: str) -> str:
    """``component:default/shop`` -> ``shop``; other namespaces keep theirs."""
    body = ref.split(":", 1)[-1]
    return body[len("default/"):] if body.startswith("default/") else body


def entity_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def environment_namespace(env) -> str:
    """The Kubernetes namespace of an environment: its Terraform output ``namespace`` when
    provisioning recorded one, else the environment's name."""
    value = None
    for attr in ("outputs", "terraform_outputs"):
        outputs = getattr(env, attr, None)
        if callable(outputs):
            try:
                outputs = outputs()
            except Exception:  # another app's helper; never break a deploy page on it
                outputs = None
        if isinstance(outputs, dict) and outputs.get("namespace"):
            value = outputs["namespace"]
            break
    if isinstance(value, dict):
        value = value.get("value")
    return value if isinstance(value, str) and value else env.name


def catalog_annotations(component_ref: str) -> dict | None:
    """The entity's annotations from the catalog, or None when the catalog app (built
    separately) is missing or does not know the entity."""
    try:
        from catalog.models import Entity
    except Exception:
        return None
    try:
        fields = {f.name for f in Entity._meta.get_fields()}
        entity = None
        ref_field = next((f for f in ("ref", "entity_ref") if f in fields), None)
        if ref_field:
            entity = Entity.objects.filter(**{ref_field: component_ref}).first()
        elif {"kind", "namespace", "name"} <= fields:
            kind, rest = component_ref.split(":", 1)
            namespace, name = rest.split("/", 1)
            entity = Entity.objects.filter(kind__iexact=kind, namespace__iexact=namespace,
                                           name__iexact=name).first()
    except Exception:
        log.debug("catalog look-up of %s failed", component_ref, exc_info=True)
        return None
    if entity is None:
        return None
    for attr in ("annotations",):
        value = getattr(entity, attr, None)
        if isinstance(value, dict):
            return value
    for attr in ("metadata", "data", "raw", "descriptor", "body"):
        value = getattr(entity, attr, None)
        if isinstance(value, dict):
            meta = value.get("metadata", value)
            if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
                return meta["annotations"]
    return {}


def secret_versions(env, namespace: str) -> dict:
    """Versions of the environment's secrets in effect, from the secrets app when it offers
    ``versions_in_effect(environment, namespace)``; empty until then."""
    try:
        from envs.secrets import models as secret_models
        fn = getattr(secret_models, "versions_in_effect", None)
        return dict(fn(env, namespace) or {}) if fn else {}
    except Exception:
        log.debug("secret versions of %s unavailable", env, exc_info=True)
        return {}


def previous_tier(tier: str) -> str | None:
    if tier in TIER_ORDER and TIER_ORDER.index(tier) > 0:
        return TIER_ORDER[TIER_ORDER.index(tier) - 1]
    return None
