"""Models of provisioning (filled in by its issue)."""
