"""Choices of the catalog app."""

from django.db import models


class SourceKind(models.TextChoices):
    LOCAL = "local", "Local path"
    GIT = "git", "Git repository"
    URL = "url", "HTTPS file"


class ImportStatus(models.TextChoices):
    NEW = "new", "Not imported yet"
    OK = "ok", "Imported"
    FAILED = "failed", "Failed"
