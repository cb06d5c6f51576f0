"""REST API of notifications: thin views over services. A channel's URL is write-only:
responses carry its ``display`` (scheme and host) only."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import services
from .serializers import ChannelInput, ChannelOutput, DeliveryOutput, TestResult


def _out(channel) -> dict:
    return dict(ChannelOutput(channel).data)


class ChannelListView(APIView):
    @extend_schema(responses={200: ChannelOutput(many=True)}, operation_id="notifications_"
                   "channels_list", summary="Notification channels (URLs are never returned)")
    def get(self, request: Request) -> Response:
        return Response([_out(c) for c in services.channels()])

    @extend_schema(request=ChannelInput, responses={201: inline_serializer(
        "ChannelCreated", {"id": serializers.IntegerField()})},
        summary="Add a channel: an Apprise URL, the events it wants, its environments")
    def post(self, request: Request) -> Response:
        channel = services.create_channel(request.data, request)
        return Response({"id": channel.pk, **_out(channel)}, status=status.HTTP_201_CREATED)


class ChannelDetailView(APIView):
    @extend_schema(responses={200: ChannelOutput}, summary="A notification channel")
    def get(self, request: Request, pk: int) -> Response:
        return Response(_out(services.get_channel(pk)))

    @extend_schema(request=ChannelInput(partial=True), responses={200: ChannelOutput},
                   summary="Change a channel (a new url replaces the old one)")
    def patch(self, request: Request, pk: int) -> Response:
        channel = services.update_channel(services.get_channel(pk), request.data, request)
        return Response(_out(channel))

    @extend_schema(responses={204: None}, summary="Remove a channel and its deliveries")
    def delete(self, request: Request, pk: int) -> Response:
        services.delete_channel(services.get_channel(pk), request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelTestView(APIView):
    @extend_schema(request=None, responses={200: TestResult},
                   summary="Send a test message now and say whether it was delivered")
    def post(self, request: Request, pk: int) -> Response:
        return Response(services.send_test(services.get_channel(pk), request))


class DeliveryListView(generics.ListAPIView):
    serializer_class = DeliveryOutput

    @extend_schema(parameters=[
        OpenApiParameter("channel", int), OpenApiParameter("event", str),
        OpenApiParameter("status", str, enum=["queued", "sending", "sent", "retrying",
                                              "failed"])],
        summary="Deliveries, newest first")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return services.deliveries(self.request.query_params)
