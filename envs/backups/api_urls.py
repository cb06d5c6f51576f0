from django.urls import path

from . import api

urlpatterns = [
    path("envs/<str:env>/backup-sources/", api.SourceListView.as_view(),
         name="api-backup-sources"),
    path("envs/<str:env>/backups/", api.BackupListView.as_view(), name="api-backups"),
    path("envs/<str:env>/backup-retention/", api.RetentionView.as_view(),
         name="api-backup-retention"),
    path("envs/<str:env>/restore-drill/", api.DrillView.as_view(), name="api-restore-drill"),
    path("backups/<int:pk>/", api.BackupDetailView.as_view(), name="api-backup"),
    path("backups/<int:pk>/restore/", api.RestoreView.as_view(), name="api-backup-restore"),
]
