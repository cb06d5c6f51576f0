from rest_framework import generics, serializers

from envs.models import Environment
from portal.runs.models import Lock, Run


class EnvironmentSerializer(serializers.ModelSerializer):
    lock = serializers.SerializerMethodField()
    last_runs = serializers.SerializerMethodField()

    class Meta:
        model = Environment
        fields = ["name", "tier", "description", "lock", "last_runs", "created_at"]

    def get_lock(self, env) -> dict | None:
        holder = Lock.holder(env.lock_key)
        if holder is None:
            return None
        return {"key": env.lock_key, "run": holder.pk, "kind": holder.kind,
                "status": holder.status, "actor": holder.actor}

    def get_last_runs(self, env) -> list[dict]:
        runs = Run.objects.filter(target=env.target).order_by("-created_at")[:5]
        return [{"id": r.pk, "kind": r.kind, "status": r.status, "created_at": r.created_at}
                for r in runs]


class EnvironmentListView(generics.ListAPIView):
    serializer_class = EnvironmentSerializer
    queryset = Environment.objects.all()


class EnvironmentDetailView(generics.RetrieveAPIView):
    serializer_class = EnvironmentSerializer
    queryset = Environment.objects.all()
    lookup_field = "name"
    lookup_url_kwarg = "env"
