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
from .sources import declared_variables, stack_variables
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
    declared = serializers.DictField(
        help_text="variables the stack declares: name -> {type, description, sensitive, "
                  "required, default (not for sensitive ones)}; empty when unreadable")


def variables_body(env: Environment) -> dict:
    return {"variables": env.tf_variables or {}, "secret_variables": env.secret_variable_names,
            "declared": stack_variables(env)}


class VariablesForm(serializers.Serializer):
    """The variables form of the environment page. When the stack can be read, one field
    per declared variable (``variables.<name>``: text for a string, number or bool, JSON for
    the others; empty: not set, the default applies); otherwise every plain variable as one
    JSON object (``variables``). A variable left out is removed. Secret ones are added or
    removed one at a time and their values are never shown. Saving no variable at all asks
    first (``confirm_empty``)."""

    variables = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    remove_secret = serializers.ListField(child=serializers.CharField(), required=False)
    secret_name = serializers.CharField(required=False, allow_blank=True)
    secret_value = serializers.CharField(required=False, allow_blank=True,
                                         trim_whitespace=False)
    confirm_empty = serializers.BooleanField(required=False, default=False)

    EMPTY = "Save no variables? The plan will use the defaults: tick this box to confirm."

    def validate_variables(self, value: str) -> dict:
        try:
            plain = json.loads(value or "{}")
        except ValueError as exc:
            raise serializers.ValidationError(f"not valid JSON ({exc})") from None
        if not isinstance(plain, dict):
            raise serializers.ValidationError("expected a JSON object")
        return plain

    def _table(self, env: Environment) -> dict:
        """The table's fields as values (Terraform's types are checked by the service)."""
        declared = declared_variables(env) or {}
        post = self.initial_data
        errors: dict[str, list[str]] = {}
        plain: dict = {}
        for key in post:
            name = key[len("variables."):] if key.startswith("variables.") else None
            if name is None:
                continue
            raw = post.get(key, "")
            spec = declared.get(name)
            if spec is None:
                errors[key] = ["the stack declares no such variable"]
            elif raw.strip():
                try:
                    plain[name] = table_value(spec, raw)
                except ValueError as exc:
                    errors[key] = [str(exc)]
        if errors:
            raise serializers.ValidationError(errors)
        return plain

    def changes_for(self, env: Environment) -> dict:
        """The form as a PATCH of the variables (services.update_variables, partial)."""
        data = self.validated_data
        plain = dict(data["variables"]) if "variables" in data else self._table(env)
        kept = {name for name, value in plain.items() if value is not None}
        plain.update({old: None for old in env.tf_variables or {} if old not in plain})
        secret: dict = {name: None for name in data.get("remove_secret", [])}
        if data.get("secret_name"):
            declared = declared_variables(env)
            if declared is not None and data["secret_name"] not in declared:
                raise serializers.ValidationError(
                    {"secret_name": ["the stack declares no such variable"]})
            secret[data["secret_name"]] = data.get("secret_value", "")
        if not kept and (env.tf_variables or not secret) and not data.get("confirm_empty"):
            raise serializers.ValidationError({"confirm_empty": [self.EMPTY]})
        return {"variables": plain, "secret_variables": secret}


def table_value(spec: dict, raw: str):
    """What one field of the table holds: the text for a string, number or bool (the
    service checks it against the type), a JSON value for the others (``any``: JSON, or
    the text when it is not JSON)."""
    kind = str(spec.get("type") or "any")
    if kind in ("string", "number", "bool"):
        return raw
    try:
        return json.loads(raw)
    except ValueError as exc:
        if kind == "any":
            return raw
        raise ValueError(f"not valid JSON ({exc})") from None


def variable_rows(env: Environment) -> list[dict] | None:
    """One row per variable the stack declares, for the page's table (None: the stack
    cannot be read): the input to show, the current value as that input shows it, the
    default as a placeholder. Sensitive ones carry no value: they are secret variables."""
    declared = declared_variables(env)
    if declared is None:
        return None
    current = env.tf_variables or {}
    secrets = set(env.secret_variable_names)
    rows = []
    for name, spec in declared.items():
        kind = spec["type"]
        scalar = kind in ("string", "number", "bool")
        value = current.get(name)
        shown = "" if value is None else (
            (json.dumps(value) if not isinstance(value, str) else value) if scalar
            else json.dumps(value, indent=1 if len(json.dumps(value)) > 60 else None))
        default = spec.get("default")
        placeholder = "" if "default" not in spec else (
            "null" if default is None else (str(default).lower() if isinstance(default, bool)
                                            else default if isinstance(default, str)
                                            else json.dumps(default)))
        if kind == "bool":
            shown = shown.lower()
        multiline = kind == "string" and ("\n" in shown or any(
            word in spec["description"].lower() for word in ("pem", "certificate")))
        rows.append({
            "name": name, "type": kind, "description": spec["description"],
            "required": spec["required"], "sensitive": spec["sensitive"],
            "secret_set": name in secrets, "value": shown, "placeholder": placeholder,
            "input": ("secret" if spec["sensitive"] else "json" if not scalar
                      else "bool" if kind == "bool" else "number" if kind == "number"
                      else "textarea" if multiline else "text"),
        })
    return rows


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
