from django.db import models


class Tier(models.TextChoices):
    DEV = "dev"
    TEST = "test"
    PROD = "prod"
    LOCAL = "local"
    PLATFORM = "platform"


def tier_for_name(name: str) -> str:
    """The tier a new environment gets from its folder name ("prod-eu" -> prod)."""
    head = name.split("-")[0]
    if head in Tier.values:
        return head
    if head in ("production", "live"):
        return Tier.PROD
    if head in ("staging", "qa"):
        return Tier.TEST
    return Tier.DEV
