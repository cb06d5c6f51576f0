from rest_framework import generics, serializers

from envs.models import Environment
from portal.runs.models import Lock, Run, latest_runs


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
        from envs.provisioning.models import StateSnapshot

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
        from envs.provisioning.models import DriftStatus

        if self.context.get("bulk") is not None:
            drift = self._bulk("drift", env)
        else:
            drift = DriftStatus.objects.filter(environment=env).first()
        if drift is None:
            return {"status": "unknown", "drifted": [], "checked_at": None, "run": None}
        return {"status": drift.status, "drifted": drift.drifted, "message": drift.message,
                "checked_at": drift.checked_at, "run": drift.run_id}

    def get_pending_plans(self, env) -> list[dict]:
        from envs.provisioning.models import PlanArtifact
        from portal.runs.choices import Status

        if self.context.get("bulk") is not None:
            plans = self._bulk("plans", env) or []
        else:
            plans = PlanArtifact.objects.filter(environment=env, run__status=Status.PLANNED)
        return [{"run": p.run_id, "mode": p.mode, "counts": p.counts, "created_at": p.created_at,
                 "expires_at": p.expires_at} for p in plans]

    def get_terraform(self, env) -> dict:
        from envs.provisioning.api import terraform_body

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
        from envs.provisioning.actions import state_lock_info

        return state_lock_info(env)


def bulk_lookups(envs: list[Environment]) -> dict[str, dict]:
    """What EnvironmentSerializer shows of other tables, for a whole page of environments
    in a constant number of queries (not five per environment)."""
    from envs.provisioning.models import DriftStatus, PlanArtifact, StateSnapshot
    from portal.runs.choices import Status

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


class EnvironmentListView(generics.ListAPIView):
    serializer_class = EnvironmentSerializer
    queryset = Environment.objects.all()

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        context = {**self.get_serializer_context(), "bulk": bulk_lookups(page)}
        return self.get_paginated_response(
            EnvironmentSerializer(page, many=True, context=context).data)


class EnvironmentDetailView(generics.RetrieveAPIView):
    serializer_class = EnvironmentDetailSerializer
    queryset = Environment.objects.all()
    lookup_field = "name"
    lookup_url_kwarg = "env"
