"""Models of backups (filled in by its issue)."""
