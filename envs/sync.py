"""Register every folder of terraform/environments/ as an Environment."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError

from .choices import Tier, tier_for_name
from .models import Environment, dns_label

DESCRIPTIONS: dict[str, str] = {
    Tier.PLATFORM: "Shared platform: the VPS, k3s and the buckets",
    Tier.LOCAL: "Runs on this machine with no cloud account (terraform_data only)",
}


def environments_root() -> Path:
    return Path(settings.BASE_DIR) / "terraform" / "environments"


def sync(root: Path | None = None) -> tuple[list[str], list[str], list[str]]:
    """Create missing environments; never overwrite what the owner changed.

    Returns (created, existing, skipped-with-reason).
    """
    root = root or environments_root()
    created: list[str] = []
    existing: list[str] = []
    skipped: list[str] = []
    if not root.is_dir():
        return created, existing, [f"{root}: not a directory"]
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        name = folder.name
        try:
            dns_label(name)
        except ValidationError:
            skipped.append(f"{name}: not a DNS-1123 label")
            continue
        tier = tier_for_name(name)
        env, made = Environment.objects.get_or_create(
            name=name,
            defaults={"tier": tier, "description": DESCRIPTIONS.get(tier, f"{name} environment")},
        )
        (created if made else existing).append(name)
    return created, existing, skipped
