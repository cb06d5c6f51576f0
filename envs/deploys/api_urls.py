from django.urls import path

from . import api

urlpatterns = [
    path("envs/<str:env>/cluster/", api.ClusterView.as_view(), name="api-deploys-cluster"),
    path("envs/<str:env>/cluster/from-output/", api.ClusterFromOutputView.as_view(),
         name="api-deploys-cluster-from-output"),
    path("envs/<str:env>/targets/", api.TargetsView.as_view(), name="api-deploys-targets"),
    path("envs/<str:env>/deploys/", api.DeployView.as_view(), name="api-deploys-deploy"),
    path("envs/<str:env>/rollback/", api.RollbackView.as_view(), name="api-deploys-rollback"),
    path("envs/<str:env>/promote/", api.PromoteView.as_view(), name="api-deploys-promote"),
    path("envs/<str:env>/restart/", api.RestartView.as_view(), name="api-deploys-restart"),
    path("envs/<str:env>/releases/", api.ReleasesView.as_view(), name="api-deploys-releases"),
    path("promotions/", api.PromotionsView.as_view(), name="api-deploys-promotions"),
]
