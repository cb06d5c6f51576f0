"""Catalog models: where descriptors come from (Location), what they define (Entity), and
how entities relate (Relation, stored in both directions).

Identity is Backstage's: the lowercased ``kind:namespace/name`` (``Entity.ref``). Every
import of a Location is a Run (kind ``catalog_import``) holding the lock ``location:<id>``;
the work itself lives in ``catalog.importer``.
"""

from __future__ import annotations

import uuid

from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone

from portal import scopes
from portal.lib import github
from portal.lib.crypto import EncryptedTextField

from .choices import ImportStatus, SourceKind
from .descriptor import KINDS, well_known

IMPORT_KIND = "catalog_import"


def kind_label(kind: str) -> str:
    """"component" -> "Component", "api" -> "API" (Backstage's spelling for known kinds)."""
    spec = KINDS.get(kind)
    return spec.kind if spec else kind


class Location(models.Model):
    kind = models.CharField(max_length=10, choices=SourceKind.choices)
    # A local path (absolute), a git URL (or a local repository path, CLI only), or an
    # https URL of one file. Never holds credentials: those go in ``token``.
    target = models.CharField(max_length=1000)
    ref = models.CharField(max_length=200, blank=True, help_text="git branch, tag or commit")
    path = models.CharField(max_length=500, blank=True, help_text="path inside the git repo")
    token = EncryptedTextField(null=True, blank=True,
                               help_text="GitHub token for private repos; write-only")
    # Added from the command line by a shell user: may read any path that user can read
    # (the UI/API are limited to PORTAL_CATALOG_LOCAL_ROOTS). Never set through the API.
    trusted = models.BooleanField(default=False)
    # The GitHub repository (owner/name) a push webhook names, when the target's URL does
    # not say it (a mirror, a local path); derived from https://github.com/... otherwise.
    github_repo = models.CharField(max_length=140, blank=True)
    status = models.CharField(max_length=10, choices=ImportStatus.choices,
                              default=ImportStatus.NEW, db_index=True)
    errors = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    last_run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_imported_at = models.DateTimeField(null=True, blank=True)
    commit = models.CharField(max_length=64, blank=True, help_text="git commit last imported")
    content_sha256 = models.CharField(max_length=64, blank=True,
                                      help_text="hash of every entity last imported")
    entity_count = models.PositiveIntegerField(default=0)
    files = models.JSONField(default=list, blank=True, help_text="catalog files read")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "target", "ref", "path"],
                                    name="catalog_location_unique_source"),
        ]

    def __str__(self) -> str:
        text = f"{self.target}"
        if self.ref:
            text += f"@{self.ref}"
        if self.path:
            text += f" ({self.path})"
        return f"{self.get_kind_display().lower()} {text}"

    def get_absolute_url(self) -> str:
        return reverse("catalog-location", args=[self.pk])

    @property
    def lock_key(self) -> str:
        return f"location:{self.pk}"

    @property
    def github_repository(self) -> str:
        """owner/name of the GitHub repository this location reads, or ""."""
        return self.github_repo or github.repo_from_url(self.target)

    @property
    def run_target(self) -> str:
        return f"location:{self.pk}"

    def delete_with_entities(self) -> int:
        with transaction.atomic():
            refs = list(self.entities.values_list("ref", flat=True))
            count = Entity.delete_refs(refs)
            self.delete()
        return count


class Entity(models.Model):
    ref = models.CharField(max_length=255, unique=True, help_text="kind:namespace/name, lowercase")
    # Backstage's metadata.uid: stable while the entity exists, new if it is recreated.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=100, help_text="lowercase")
    namespace = models.CharField(max_length=63)
    name = models.CharField(max_length=63, help_text="as written")
    api_version = models.CharField(max_length=255)
    type = models.CharField(max_length=255, blank=True)
    lifecycle = models.CharField(max_length=255, blank=True)
    owner = models.CharField(max_length=255, blank=True, help_text="entity ref")
    system = models.CharField(max_length=255, blank=True, help_text="entity ref")
    title = models.TextField(blank=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    links = models.JSONField(default=list, blank=True)
    raw = models.JSONField(default=dict)
    sha256 = models.CharField(max_length=64, help_text="hash of the descriptor as written")
    # Hash of everything stored from the import (descriptor, position, config keys,
    # warnings): equal means the row is not written again.
    fingerprint = models.CharField(max_length=64)
    file = models.TextField()
    line = models.PositiveIntegerField(default=0)
    column = models.PositiveIntegerField(default=0)
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="entities")
    orphaned = models.BooleanField(default=False)
    config_keys = models.JSONField(default=list, blank=True)
    environments = models.JSONField(default=list, blank=True)
    errors = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    has_errors = models.BooleanField(default=False)
    # Denormalised for portable filters (JSON containment is not available on SQLite):
    # ",a,b," so that a tag/env filter is an indexable-enough LIKE '%,a,%'.
    tag_index = models.TextField(blank=True)
    env_index = models.TextField(blank=True)
    search = models.TextField(blank=True, help_text="lowercase text for ?q=")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["ref"]
        verbose_name_plural = "entities"
        indexes = [
            models.Index(fields=["kind", "ref"]),
            models.Index(fields=["type"]),
            models.Index(fields=["lifecycle"]),
            models.Index(fields=["owner"]),
            models.Index(fields=["system"]),
            models.Index(fields=["orphaned", "ref"]),
            models.Index(fields=["has_errors", "ref"]),
            models.Index(fields=["location", "ref"]),
        ]

    def __str__(self) -> str:
        return self.ref

    def get_absolute_url(self) -> str:
        return reverse("catalog-entity", args=[self.kind, self.namespace, self.name.lower()])

    @property
    def kind_label(self) -> str:
        return kind_label(self.kind)

    @property
    def display_name(self) -> str:
        return self.title or self.name

    @property
    def spec(self) -> dict:
        spec = self.raw.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def api_url(self) -> str:
        return f"/api/catalog/entities/{self.kind}/{self.namespace}/{self.name.lower()}/"

    @staticmethod
    def url_for_ref(ref: str) -> str:
        kind, _, rest = ref.partition(":")
        namespace, _, name = rest.partition("/")
        return reverse("catalog-entity", args=[kind, namespace, name])

    # --- what the entity page and the detail API show ----------------------------------
    def relation_rows(self) -> list[dict]:
        """This entity's relations (both directions are rows with source = this entity),
        with what is known of each target, in two queries."""
        rows = list(Relation.objects.filter(source=self.ref)
                    .values_list("type", "target", "target_exists").distinct()
                    .order_by("type", "target"))
        known = {ref: (title, name) for ref, title, name in Entity.objects.filter(
            ref__in={target for _t, target, _e in rows}).values_list("ref", "title", "name")}
        out = []
        for rtype, target, exists in rows:
            title, name = known.get(target, ("", ""))
            out.append({
                "type": rtype, "target": target, "target_exists": target in known,
                "target_kind": target.partition(":")[0],
                "target_name": name or target.rpartition("/")[2],
                "target_title": title,
                "target_url": Entity.url_for_ref(target) if target in known else None,
                "flag_stale": exists != (target in known),
            })
        return out

    def annotation_links(self) -> list[dict]:
        """The well-known annotations the portal understands, as links where they are."""
        info = well_known(self.annotations or {})
        out = []
        if info["github_url"]:
            out.append({"label": "GitHub repository", "url": info["github_url"],
                        "annotation": "github.com/project-slug"})
        for key, label, annotation in (
            ("source_location", "Source", "backstage.io/source-location"),
            ("techdocs_ref", "Docs", "backstage.io/techdocs-ref"),
        ):
            ref = info[key]
            if ref is not None:
                url = ref.target if ref.target.startswith("https://") else None
                if url is None and ref.type == "dir" and info["source_location"] is not None:
                    base = info["source_location"].target
                    url = base if base.startswith("https://") and ref.target in (".", "./") \
                        else None
                out.append({"label": label, "url": url, "value": f"{ref.type}:{ref.target}",
                            "annotation": annotation})
        for key, label in (("kubernetes_id", "Kubernetes id"),
                           ("kubernetes_namespace", "Kubernetes namespace"),
                           ("kubernetes_label_selector", "Kubernetes selector")):
            if info[key]:
                out.append({"label": label, "url": None, "value": info[key],
                            "annotation": f"backstage.io/{key.replace('_', '-')}"})
        return out

    def environment_rows(self) -> list[dict]:
        """Where this component runs: each name with its Environment entity and the
        portal environment of the same name (matched by name)."""
        names = list(self.environments or [])
        if self.kind == "environment":
            names = [self.name.lower()]
        portal = scopes.existing(names)
        refs = {f"environment:{self.namespace}/{n}" for n in names}
        present = set(Entity.objects.filter(ref__in=refs).values_list("ref", flat=True))
        out = []
        for name in names:
            ref = f"environment:{self.namespace}/{name}"
            out.append({
                "name": name, "entity": ref if ref in present else None,
                "entity_url": Entity.url_for_ref(ref) if ref in present else None,
                "portal_environment": name if name in portal else None,
                "portal_url": reverse("env", args=[name]) if name in portal else None,
            })
        return out

    @classmethod
    def in_environment(cls, name: str):
        """Components (or any entity) annotated as deployed to the portal environment."""
        return cls.objects.filter(env_index__contains=f",{name.lower()},")

    @classmethod
    def delete_refs(cls, refs: list[str]) -> int:
        """Delete entities; references to them become dangling (kept and flagged).

        Relations belong to the location whose descriptors emitted them: an orphan emits
        none any more, and rows other descriptors emit about it stay theirs."""
        if not refs:
            return 0
        with transaction.atomic():
            deleted = 0
            for start in range(0, len(refs), 2000):
                chunk = refs[start:start + 2000]
                Relation.objects.filter(target__in=chunk).update(target_exists=False)
                deleted += cls.objects.filter(ref__in=chunk).delete()[0]
        return deleted


class Relation(models.Model):
    """One directed edge. Both directions of a pair are rows (ownedBy and ownerOf), so an
    entity's page needs only ``source = ref``. A target that is not in the catalog is kept
    with ``target_exists = False`` (Backstage keeps such relations too)."""

    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="relations")
    source = models.CharField(max_length=255)
    type = models.CharField(max_length=40)
    target = models.CharField(max_length=255, db_index=True)
    target_exists = models.BooleanField(default=True)

    class Meta:
        ordering = ["source", "type", "target"]
        indexes = [models.Index(fields=["source", "type"])]
        constraints = [
            models.UniqueConstraint(fields=["location", "source", "type", "target"],
                                    name="catalog_relation_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.type} {self.target}"
