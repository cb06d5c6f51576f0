from django.urls import path

from . import views

urlpatterns = [
    path("platform/", views.platform_page, name="platform"),
    path("platform/live/", views.platform_live, name="platform-live"),
]
