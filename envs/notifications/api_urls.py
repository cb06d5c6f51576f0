from django.urls import path

from . import api

urlpatterns = [
    path("notifications/channels/", api.ChannelListView.as_view(),
         name="api-notification-channels"),
    path("notifications/channels/<int:pk>/", api.ChannelDetailView.as_view(),
         name="api-notification-channel"),
    path("notifications/channels/<int:pk>/test/", api.ChannelTestView.as_view(),
         name="api-notification-channel-test"),
    path("notifications/deliveries/", api.DeliveryListView.as_view(),
         name="api-notification-deliveries"),
]
