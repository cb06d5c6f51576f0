from django.urls import path

from . import views

urlpatterns = [
    path("envs/<str:name>/secrets/add/", views.add, name="secrets-add"),
    path("envs/<str:name>/secrets/<str:secret>/", views.detail, name="secrets-detail"),
    path("envs/<str:name>/secrets/<str:secret>/set/", views.set_value, name="secrets-set"),
    path("envs/<str:name>/secrets/<str:secret>/rotate/", views.rotate, name="secrets-rotate"),
    path("envs/<str:name>/secrets/<str:secret>/delete/", views.delete, name="secrets-delete"),
]
