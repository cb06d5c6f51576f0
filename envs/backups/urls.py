from django.urls import path

from . import views

urlpatterns = [
    path("envs/<str:env>/backup-sources/add/", views.add_source, name="backup-source-add"),
    path("envs/<str:env>/backups/run/", views.backup_now, name="backup-now"),
    path("envs/<str:env>/backups/retention/", views.retention_now, name="backup-retention"),
    path("envs/<str:env>/backups/state/", views.state_versions, name="backup-state-versions"),
    path("envs/<str:env>/restore-drill/", views.drill, name="backup-drill"),
    path("backups/<int:pk>/restore/", views.restore, name="backup-restore"),
]
