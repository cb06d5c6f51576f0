from django.urls import path

from . import api

urlpatterns = [
    path("envs/<str:env>/plan/", api.PlanView.as_view(), name="api-env-plan"),
    path("envs/<str:env>/destroy/", api.DestroyView.as_view(), name="api-env-destroy"),
    path("envs/<str:env>/drift/", api.DriftView.as_view(), name="api-env-drift"),
    path("envs/<str:env>/force-unlock/", api.ForceUnlockView.as_view(),
         name="api-env-force-unlock"),
    path("envs/<str:env>/variables/", api.VariablesView.as_view(), name="api-env-variables"),
    path("envs/<str:env>/terraform/", api.TerraformSettingsView.as_view(),
         name="api-env-terraform"),
    path("envs/<str:env>/plans/<int:pk>/", api.PlanDetailView.as_view(),
         name="api-env-plan-detail"),
    path("runs/<int:pk>/approve/", api.ApproveView.as_view(), name="api-run-approve"),
    path("runs/<int:pk>/discard/", api.DiscardView.as_view(), name="api-run-discard"),
    path("runs/<int:pk>/force-stop/", api.ForceStopView.as_view(), name="api-run-force-stop"),
]
