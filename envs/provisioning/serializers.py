"""Input and output shapes of provisioning, shared by the API and the page forms: the
request bodies (variables, Terraform settings, confirmations), the variables form of the
environment page, and what the API shows of an environment (list and detail at
``/api/envs/``) and of a saved plan."""

from __future__ import annotations

import json

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from envs.models import Environment
from portal.lib import github
from portal.runs.api import RunSerializer
from portal.runs.choices import Status
from portal.runs.models import Lock, Run, latest_runs

from .models import DriftStatus, PlanArtifact, StateSnapshot
from .sources import stack_variables
from .statelock import state_lock_info

Confirm = inline_serializer("Confirm", {"confirm": serializers.CharField(required=False)})
ForceUnlockRequest = inline_serializer("ForceUnlock", {"lock_id": serializers.CharField(),
                                                       "confirm": serializers.CharField()})

# --------------------------------------------------------------------------- variables


class VariablesSerializer(serializers.Serializer):
    variables = serializers.DictField(required=False, help_text="name -> JSON value")
    secret_variables = serializers.DictField(
        required=False, help_text="name -> value, write-only; null removes")


class VariablesResponse(serializers.Serializer):
    variables = serializers.DictField()
    secret_variables = serializers.ListField(child=serializers.CharField(),
                                             help_text="names only; values are write-only")
    declared = serializers.DictField(help_text="variables the stack declares")


def variables_body(env: Environment) -> dict:
    return {"variables": env.tf_variables or {}, "secret_variables": env.secret_variable_names,
            "declared": stack_variables(env)}


class VariablesForm(serializers.Serializer):
    """The variables form of the environment page: every plain variable as one JSON object
    (a variable left out is removed); secret ones are added or removed one at a time and
    their values are never shown."""

    variables = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    remove_secret = serializers.ListField(child=serializers.CharField(), required=False)
    secret_name = serializers.CharField(required=False, allow_blank=True)
    secret_value = serializers.CharField(required=False, allow_blank=True,
                                         trim_whitespace=False)

    def validate_variables(self, value: str) -> dict:
        try:
            plain = json.loads(value or "{}")
        except ValueError as exc:
            raise serializers.ValidationError(f"not valid JSON ({exc})") from None
        if not isinstance(plain, dict):
            raise serializers.ValidationError("expected a JSON object")
        return plain

    def changes_for(self, env: Environment) -> dict:
        """The form as a PATCH of the variables (services.update_variables, partial)."""
        data = self.validated_data
        plain = dict(data.get("variables", {}))
        plain.update({old: None for old in env.tf_variables or {} if old not in plain})
        secret: dict = {name: None for name in data.get("remove_secret", [])}
        if data.get("secret_name"):
            secret[data["secret_name"]] = data.get("secret_value", "")
        return {"variables": plain, "secret_variables": secret}


# --------------------------------------------------------------------------- settings


class TerraformSettingsSerializer(serializers.Serializer):
    directory = serializers.CharField(required=False, allow_blank=True)
    git_url = serializers.CharField(required=False, allow_blank=True)
    git_ref = serializers.CharField(required=False, allow_blank=True)
    git_path = serializers.CharField(required=False, allow_blank=True)
    git_token = serializers.CharField(required=False, allow_blank=True, help_text="write-only")
    github_repo = serializers.CharField(
        required=False, allow_blank=True, max_length=140,
        help_text="owner/name on GitHub whose pull requests plan this environment, when "
                  "git_url is not a https://github.com/owner/name URL (a mirror, a local path)")
    engine = serializers.CharField(required=False, allow_blank=True)
    backend = inline_serializer("Backend", {
        "bucket": serializers.CharField(required=False, allow_blank=True),
        "key": serializers.CharField(required=False, allow_blank=True),
        "region": serializers.CharField(required=False),
        "endpoint": serializers.CharField(required=False, allow_blank=True),
        "use_path_style": serializers.BooleanField(required=False),
    }, required=False)
    backend_credentials = inline_serializer("BackendCredentials", {
        "access_key_id": serializers.CharField(required=False),
        "secret_access_key": serializers.CharField(required=False),
    }, required=False, help_text="write-only")


def terraform_body(env: Environment) -> dict:
    return {
        "source": env.source_label(), "directory": env.tf_directory, "git_url": env.tf_git_url,
        "git_ref": env.tf_git_ref, "git_path": env.tf_git_path,
        "git_token_set": bool(env.tf_git_token), "engine": env.engine,
        "github_repo": env.tf_github_repo,
        "github_repository": env.tf_github_repo or (github.repo_from_url(env.tf_git_url)
                                                    if env.tf_git_url else ""),
        "backend": ({"type": "s3", "bucket": env.backend_bucket, "key": env.state_key,
                     "region": env.backend_region, "endpoint": env.backend_endpoint,
                     "use_path_style": env.backend_use_path_style,
                     "credentials_set": bool(env.backend_secrets())}
                    if env.uses_s3_backend else {"type": "local (encrypted in the portal)"}),
    }


# --------------------------------------------------------------------------- plans


class PlanArtifactSerializer(serializers.ModelSerializer):
    run = RunSerializer(read_only=True)
    environment = serializers.CharField(source="environment.name")
    expires_at = serializers.DateTimeField(read_only=True)

    class Meta:
        model = PlanArtifact
        fields = ["run", "environment", "mode", "counts", "resource_changes", "output_changes",
                  "plan_sha256", "git_commit", "state_serial", "state_lineage", "created_at",
                  "expires_at", "discarded_reason"]


# --------------------------------------------------------------------------- environments


class EnvironmentSerializer(serializers.ModelSerializer):
    lock = serializers.SerializerMethodField()
    last_runs = serializers.SerializerMethodField()
    outputs = serializers.SerializerMethodField(help_text="sensitive values masked")
    drift = serializers.SerializerMethodField()
    last_apply = serializers.SerializerMethodField()
    pending_plans = serializers.SerializerMethodField()
    terraform = serializers.SerializerMethodField()

    class Meta:
        model = Environment
        fields = ["name", "tier", "description", "lock", "last_runs", "outputs", "drift",
                  "last_apply", "pending_plans", "terraform", "created_at"]

    def _bulk(self, name: str, env):
        """A look-up prepared for the whole page by EnvironmentListView (None: not a list)."""
        bulk = self.context.get("bulk")
        return None if bulk is None else bulk[name].get(env.pk)

    def get_lock(self, env) -> dict | None:
        bulk = self.context.get("bulk")
        holder = bulk["locks"].get(env.pk) if bulk is not None else Lock.holder(env.lock_key)
        if holder is None:
            return None
        return {"key": env.lock_key, "run": holder.pk, "kind": holder.kind,
                "status": holder.status, "actor": holder.actor}

    def get_last_runs(self, env) -> list[dict]:
        if self.context.get("bulk") is not None:
            runs = self._bulk("last_runs", env) or []
        else:
            runs = Run.objects.filter(target=env.target).order_by("-created_at")[:5]
        return [{"id": r.pk, "kind": r.kind, "status": r.status, "created_at": r.created_at}
                for r in runs]

    def _snapshot(self, env):
        if self.context.get("bulk") is not None:
            return self._bulk("snapshots", env)
        if not hasattr(env, "_snapshot_cache"):
            env._snapshot_cache = StateSnapshot.objects.filter(environment=env).first()
        return env._snapshot_cache

    def get_outputs(self, env) -> dict:
        snapshot = self._snapshot(env)
        return snapshot.outputs if snapshot else {}

    def get_last_apply(self, env) -> dict | None:
        snapshot = self._snapshot(env)
        if snapshot is None or snapshot.last_applied_at is None:
            return None
        return {"run": snapshot.last_apply_run_id, "at": snapshot.last_applied_at,
                "serial": snapshot.serial, "resources": len(snapshot.resources),
                "errored_state": bool(snapshot.errored_state)}

    def get_drift(self, env) -> dict:
        if self.context.get("bulk") is not None:
            drift = self._bulk("drift", env)
        else:
            drift = DriftStatus.objects.filter(environment=env).first()
        if drift is None:
            return {"status": "unknown", "drifted": [], "checked_at": None, "run": None}
        return {"status": drift.status, "drifted": drift.drifted, "message": drift.message,
                "checked_at": drift.checked_at, "run": drift.run_id}

    def get_pending_plans(self, env) -> list[dict]:
        if self.context.get("bulk") is not None:
            plans = self._bulk("plans", env) or []
        else:
            plans = PlanArtifact.objects.filter(environment=env, run__status=Status.PLANNED)
        return [{"run": p.run_id, "mode": p.mode, "counts": p.counts, "created_at": p.created_at,
                 "expires_at": p.expires_at} for p in plans]

    def get_terraform(self, env) -> dict:
        body = terraform_body(env)
        body["variables"] = env.tf_variables or {}
        body["secret_variables"] = env.secret_variable_names
        return body


class EnvironmentDetailSerializer(EnvironmentSerializer):
    state_lock = serializers.SerializerMethodField(
        help_text="the backend's state lock, and whether a portal run holds it")

    class Meta(EnvironmentSerializer.Meta):
        fields = [*EnvironmentSerializer.Meta.fields, "state_lock"]

    def get_state_lock(self, env) -> dict | None:
        return state_lock_info(env)


def bulk_lookups(envs: list[Environment]) -> dict[str, dict]:
    """What EnvironmentSerializer shows of other tables, for a whole page of environments
    in a constant number of queries (not five per environment)."""
    by_target = {env.target: env.pk for env in envs}
    by_lock = {env.lock_key: env.pk for env in envs}
    ids = list(by_target.values())
    last_runs = {by_target[target]: runs for target, runs in latest_runs(by_target, 5).items()}
    plans: dict[int, list] = {}
    for plan in PlanArtifact.objects.filter(environment_id__in=ids, run__status=Status.PLANNED
                                            ).defer("plan_encrypted", "resource_changes",
                                                    "output_changes"):
        plans.setdefault(plan.environment_id, []).append(plan)
    return {
        "locks": {by_lock[lock.key]: lock.run for lock in
                  Lock.objects.select_related("run").filter(key__in=by_lock)},
        "last_runs": last_runs,
        "snapshots": {s.environment_id: s for s in StateSnapshot.objects.filter(
            environment_id__in=ids).defer("local_state")},
        "drift": {d.environment_id: d for d in DriftStatus.objects.filter(
            environment_id__in=ids)},
        "plans": plans,
    }
