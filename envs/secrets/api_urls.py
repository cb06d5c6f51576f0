from django.urls import path

from . import api

urlpatterns = [
    path("envs/<str:env>/secrets/", api.SecretListView.as_view(), name="api-secrets"),
    path("envs/<str:env>/secrets/<str:name>/", api.SecretDetailView.as_view(),
         name="api-secret"),
    path("envs/<str:env>/secrets/<str:name>/rotate/", api.SecretRotateView.as_view(),
         name="api-secret-rotate"),
    path("envs/<str:env>/config-check/", api.ConfigCheckView.as_view(),
         name="api-config-check"),
]
