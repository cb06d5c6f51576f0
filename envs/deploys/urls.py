from django.urls import path

from . import views

urlpatterns = [
    path("promotions/", views.promotions_page, name="deploys-promotions"),
    path("envs/<str:name>/deploys/live/", views.live, name="deploys-live"),
    path("envs/<str:name>/deploys/cluster/", views.set_cluster, name="deploys-cluster"),
    path("envs/<str:name>/deploys/cluster/from-output/", views.cluster_from_output,
         name="deploys-cluster-from-output"),
    path("envs/<str:name>/deploys/targets/", views.set_target, name="deploys-target"),
    path("envs/<str:name>/deploys/deploy/", views.deploy, name="deploys-deploy"),
    path("envs/<str:name>/deploys/rollback/", views.rollback, name="deploys-rollback"),
    path("envs/<str:name>/deploys/promote/", views.promote, name="deploys-promote"),
    path("envs/<str:name>/deploys/restart/", views.restart, name="deploys-restart"),
]
