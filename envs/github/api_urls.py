from django.urls import path

from . import api

urlpatterns = [
    path("github/deliveries/", api.DeliveryListView.as_view(), name="api-github-deliveries"),
    path("github/deliveries/<int:pk>/", api.DeliveryDetailView.as_view(),
         name="api-github-delivery"),
    path("github/pulls/", api.PullListView.as_view(), name="api-github-pulls"),
    path("github/pulls/<int:pk>/plan/", api.PlanPullView.as_view(), name="api-github-plan-pull"),
]
