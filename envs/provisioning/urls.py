from django.urls import path

from . import views

urlpatterns = [
    path("envs/<str:name>/plan/", views.env_plan, name="env-plan"),
    path("envs/<str:name>/destroy/", views.env_destroy, name="env-destroy"),
    path("envs/<str:name>/drift/", views.env_drift, name="env-drift"),
    path("envs/<str:name>/force-unlock/", views.env_force_unlock, name="env-force-unlock"),
    path("envs/<str:name>/variables/", views.env_variables, name="env-variables"),
    path("plans/<int:pk>/", views.plan_review, name="plan-review"),
    path("plans/<int:pk>/approve/", views.plan_approve, name="plan-approve"),
    path("plans/<int:pk>/discard/", views.plan_discard, name="plan-discard"),
    path("runs/<int:pk>/force-stop/", views.run_force_stop, name="run-force-stop"),
]
