from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers

from .filters import filter_events
from .models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor", "action", "target", "outcome", "client_ip", "detail", "run"]


class AuditListView(generics.ListAPIView):
    serializer_class = AuditEventSerializer

    @extend_schema(parameters=[OpenApiParameter(name, str) for name in
                               ("action", "outcome", "actor", "target", "since", "until")])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return filter_events(AuditEvent.objects.all(), self.request.query_params)
