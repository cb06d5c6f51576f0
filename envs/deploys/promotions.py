"""The promotion order (dev -> test -> prod) and the pending promotions: where a
component's live release differs between an environment and the next one. Read from release
records, never from the cluster, so the dashboard stays fast; a promote run reads what
really runs before it deploys."""

from __future__ import annotations

from envs.models import Environment

from .images import image_parts
from .models import Release, Target

TIER_ORDER = ["dev", "test", "prod"]


def previous_tier(tier: str) -> str | None:
    """The tier an environment of ``tier`` is promoted from (None: the first one)."""
    if tier in TIER_ORDER and TIER_ORDER.index(tier) > 0:
        return TIER_ORDER[TIER_ORDER.index(tier) - 1]
    return None


def same_image(a: Release, b: Release) -> bool:
    if a.digest and b.digest:
        return a.digest == b.digest
    repo_a, tag_a, _ = image_parts(a.image)
    repo_b, tag_b, _ = image_parts(b.image)
    return (repo_a, tag_a) == (repo_b, tag_b)


def pending() -> list[dict]:
    envs = {e.pk: e for e in Environment.objects.only("id", "name", "tier")}
    by_tier: dict[str, list[Environment]] = {}
    for env in envs.values():
        by_tier.setdefault(env.tier, []).append(env)
    live = {(r.environment_id, r.component): r
            for r in Release.objects.filter(status=Release.Status.LIVE).order_by("id")
            .only("id", "environment_id", "component", "image", "digest")}
    targets = set(Target.objects.values_list("environment_id", "component"))
    rows = []
    for src_tier, dst_tier in zip(TIER_ORDER, TIER_ORDER[1:], strict=False):
        for src in sorted(by_tier.get(src_tier, []), key=lambda e: e.name):
            for dst in sorted(by_tier.get(dst_tier, []), key=lambda e: e.name):
                components = sorted({c for (e, c) in targets if e == dst.pk}
                                    & {c for (e, c) in live if e == src.pk})
                for component in components:
                    have, want = live.get((dst.pk, component)), live[(src.pk, component)]
                    if have is not None and same_image(have, want):
                        continue
                    rows.append({
                        "component": component, "from": src.name, "to": dst.name,
                        "to_prod": dst.is_prod,
                        "from_image": want.image, "from_digest": want.digest,
                        "from_release": want.pk,
                        "to_image": have.image if have else None,
                        "to_digest": have.digest if have else "",
                        "to_release": have.pk if have else None,
                    })
    return rows
