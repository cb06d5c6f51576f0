from django.urls import path

from . import api

urlpatterns = [
    path("platform/", api.PlatformView.as_view(), name="api-platform"),
]
