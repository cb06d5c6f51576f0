"""Serializers of the catalog API. A location's token is write-only: only ``has_token``
is ever answered."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.choices import SourceKind
from catalog.models import Entity, Location
from catalog.sources import SourceError, check_local_path, check_subpath, classify
from portal.lib import gitfetch, github, safe_http


class EntityLinks(serializers.Serializer):
    self = serializers.CharField()
    page = serializers.CharField()


class EntitySummarySerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(read_only=True)
    location = serializers.IntegerField(source="location_id", read_only=True)
    links = serializers.SerializerMethodField()

    class Meta:
        model = Entity
        fields = ["ref", "kind", "kind_label", "namespace", "name", "title", "type",
                  "lifecycle", "owner", "system", "tags", "description", "orphaned",
                  "has_errors", "location", "updated_at", "links"]
        read_only_fields = fields

    @extend_schema_field(EntityLinks)
    def get_links(self, entity: Entity) -> dict[str, str]:
        return {"self": entity.api_url, "page": entity.get_absolute_url()}


class RelationSerializer(serializers.Serializer):
    type = serializers.CharField()
    target = serializers.CharField()
    target_exists = serializers.BooleanField()
    target_url = serializers.CharField(allow_null=True)


class AnnotationLinkSerializer(serializers.Serializer):
    # DRF's metaclass takes declared fields off the class, so this does not replace
    # Field.label; the stubs cannot know that.
    label = serializers.CharField()  # type: ignore[assignment]
    annotation = serializers.CharField()
    url = serializers.CharField(allow_null=True)
    value = serializers.CharField(required=False)


class EnvironmentRowSerializer(serializers.Serializer):
    name = serializers.CharField()
    entity = serializers.CharField(allow_null=True)
    portal_environment = serializers.CharField(allow_null=True)


class EntityDetailSerializer(EntitySummarySerializer):
    relations = serializers.SerializerMethodField()
    annotation_links = serializers.SerializerMethodField()
    environments = serializers.SerializerMethodField()
    location_target = serializers.CharField(source="location.__str__", read_only=True)

    class Meta(EntitySummarySerializer.Meta):
        fields = EntitySummarySerializer.Meta.fields + [
            "api_version", "annotations", "labels", "metadata_links", "config_keys",
            "environments", "relations", "annotation_links", "file", "line", "column",
            "sha256", "errors", "warnings", "location_target", "raw", "created_at",
        ]
        read_only_fields = fields
        extra_kwargs: dict[str, dict[str, Any]] = {}

    metadata_links = serializers.JSONField(source="links", read_only=True)

    @extend_schema_field(RelationSerializer(many=True))
    def get_relations(self, entity: Entity) -> list[dict[str, Any]]:
        return [{k: r[k] for k in ("type", "target", "target_exists", "target_url")}
                for r in entity.relation_rows()]

    @extend_schema_field(AnnotationLinkSerializer(many=True))
    def get_annotation_links(self, entity: Entity) -> list[dict[str, Any]]:
        return entity.annotation_links()

    @extend_schema_field(EnvironmentRowSerializer(many=True))
    def get_environments(self, entity: Entity) -> list[dict[str, Any]]:
        return [{k: row[k] for k in ("name", "entity", "portal_environment")}
                for row in entity.environment_rows()]


class LocationSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=SourceKind.choices, required=False,
                                   help_text="derived from target when omitted")
    token = serializers.CharField(write_only=True, required=False, allow_blank=True,
                                  style={"input_type": "password"},
                                  help_text="GitHub token for a private repository; "
                                            "write-only, stored encrypted")
    has_token = serializers.SerializerMethodField()
    github_repo = serializers.CharField(
        required=False, allow_blank=True, max_length=140,
        help_text="owner/name of the GitHub repository whose pushes refresh this location; "
                  "derived from a https://github.com/owner/name URL when empty")
    github_repository = serializers.CharField(read_only=True,
                                              help_text="github_repo, or the derived one")

    class Meta:
        model = Location
        fields = ["id", "kind", "target", "ref", "path", "token", "has_token", "trusted",
                  "github_repo", "github_repository",
                  "status", "errors", "warnings", "entity_count", "commit", "files",
                  "last_run", "last_attempt_at", "last_imported_at", "created_at",
                  "updated_at"]
        read_only_fields = ["id", "trusted", "status", "errors", "warnings", "entity_count",
                            "commit", "files", "last_run", "last_attempt_at",
                            "last_imported_at", "created_at", "updated_at"]
        # The uniqueness of a source is answered as a 409 by the view, not a 400 here.
        validators: list = []

    def get_has_token(self, location) -> bool:
        return bool(location.token)

    def validate(self, data):
        instance = self.instance
        target = data.get("target", instance.target if instance else "").strip()
        ref = data.get("ref", instance.ref if instance else "").strip()
        try:  # each refusal names its own field (hardening)
            path = check_subpath(data.get("path", instance.path if instance else ""))
        except SourceError as exc:
            raise serializers.ValidationError({"path": [str(exc)]}) from None
        try:
            ref = gitfetch.check_ref(ref)
        except gitfetch.FetchError as exc:
            raise serializers.ValidationError({"ref": [str(exc)]}) from None
        try:
            kind = data.get("kind") or (instance.kind if instance else classify(target, ref))
            unchanged = instance is not None and (kind, target) == (instance.kind, instance.target)
            if not unchanged:  # a CLI-added (trusted) location keeps its reach
                target = vet_source(kind, target)
        except SourceError as exc:
            raise serializers.ValidationError({"target": [str(exc)]}) from None
        if path and kind != SourceKind.GIT:
            raise serializers.ValidationError({"path": ["applies to git repositories only"]})
        if (ref or path) and kind == SourceKind.LOCAL:
            raise serializers.ValidationError({"ref": ["a local path has no ref"]})
        data.update(kind=kind, target=target, ref=ref, path=path)
        if "token" in data:
            data["token"] = data["token"] or None
        if data.get("github_repo"):
            try:
                data["github_repo"] = github.check_repo_name(data["github_repo"])
            except ValueError as exc:
                raise serializers.ValidationError({"github_repo": [str(exc)]}) from None
        return data


def vet_source(kind: str, target: str) -> str:
    """What the UI and the API accept (the CLI may go further): local paths under
    PORTAL_CATALOG_LOCAL_ROOTS, and https URLs on an allowed host resolving to public
    addresses. Returns the normalised target; raises SourceError."""
    if kind == SourceKind.LOCAL:
        path = target[7:] if target.lower().startswith("file://") else target
        return check_local_path(path, trusted=False)
    try:
        safe_http.check_url(target, settings.CATALOG_ALLOWED_HOSTS)
    except safe_http.FetchError as exc:
        raise SourceError(str(exc)) from None
    return target


class ValidateIssueSerializer(serializers.Serializer):
    file = serializers.CharField()
    line = serializers.IntegerField()
    column = serializers.IntegerField()
    entity = serializers.CharField(allow_null=True)
    field = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class ValidatedEntitySerializer(serializers.Serializer):
    ref = serializers.CharField()
    kind = serializers.CharField()
    name = serializers.CharField()
    line = serializers.IntegerField()


class ValidateResponseSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    entities = ValidatedEntitySerializer(many=True)
    relations = serializers.IntegerField()
    # A declared field (taken off the class by DRF's metaclass), not Serializer.errors;
    # the stubs cannot know that.
    errors = ValidateIssueSerializer(many=True)  # type: ignore[assignment]
    warnings = ValidateIssueSerializer(many=True)


class PreviewSerializer(serializers.Serializer):
    """A dry run: what the import would do; nothing is stored."""

    ok = serializers.BooleanField(help_text="false: errors; an import would change nothing")
    dry_run = serializers.BooleanField()
    entities = serializers.IntegerField()
    created = serializers.ListField(child=serializers.CharField(), help_text="entity refs")
    updated = serializers.ListField(child=serializers.CharField())
    orphaned = serializers.ListField(child=serializers.CharField())
    unchanged = serializers.IntegerField()
    relations = serializers.IntegerField()
    commit = serializers.CharField(allow_blank=True)
    files = serializers.ListField(child=serializers.CharField())
    errors = ValidateIssueSerializer(many=True)  # type: ignore[assignment]
    warnings = ValidateIssueSerializer(many=True)


class ImportStartedSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="the run id")
    kind = serializers.CharField()
    status = serializers.CharField()
    location = serializers.IntegerField()
    run_url = serializers.CharField()
