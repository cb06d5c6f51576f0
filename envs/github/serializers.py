"""What the GitHub API answers and accepts: deliveries (with the runs they started and any
post that finally failed), pull requests, and the owner's "plan this PR" request."""

from __future__ import annotations

from rest_framework import serializers

from .models import Delivery, Post, PostState, PullRequest


class PostSerializer(serializers.ModelSerializer):
    pull = serializers.CharField(source="pull.__str__", default=None, read_only=True)

    class Meta:
        model = Post
        fields = ["id", "kind", "repository", "sha", "context", "state", "description",
                  "target_url", "pull", "run", "status", "attempts", "next_attempt_at",
                  "last_error", "created_at", "sent_at"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    failed_posts = serializers.SerializerMethodField()

    class Meta:
        model = Delivery
        fields = ["id", "delivery_id", "event", "action", "repository", "ref", "pr_number",
                  "head_sha", "sender", "outcome", "detail", "runs", "redeliveries",
                  "received_at", "failed_posts"]
        read_only_fields = fields

    def get_failed_posts(self, delivery: Delivery) -> PostSerializer(many=True):  # type: ignore[valid-type]
        return PostSerializer(delivery.posts.filter(status=PostState.FAILED), many=True).data


class PullRequestSerializer(serializers.ModelSerializer):
    class Meta:
        model = PullRequest
        fields = ["id", "repository", "number", "title", "url", "head_sha", "head_ref",
                  "base_ref", "author_login", "author_id", "same_repository", "state",
                  "not_planned_reason", "comment_id", "created_at", "updated_at"]
        read_only_fields = fields


class PlanPullSerializer(serializers.Serializer):
    env = serializers.CharField(max_length=63, help_text="the environment to plan")


class PlanStartedSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="the plan run")
    status = serializers.CharField()
    run_url = serializers.CharField()
