"""Models of secrets (filled in by its issue)."""
