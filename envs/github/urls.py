from django.urls import path

from . import views

urlpatterns = [
    # Top level and public: GitHub signs what it sends (views.webhook checks it).
    path("hooks/github/", views.webhook, name="github-webhook"),
    path("settings/github/", views.settings_page, name="github-settings"),
    path("settings/github/pulls/<int:pk>/plan/", views.plan_pull, name="github-plan-pull"),
]
