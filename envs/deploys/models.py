"""Models of deploys (filled in by its issue)."""
