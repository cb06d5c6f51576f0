from django.urls import path

from . import api

urlpatterns = [
    path("portal/backups/", api.BackupListView.as_view(), name="api-portal-backups"),
    path("portal/backups/<int:pk>/", api.BackupDetailView.as_view(), name="api-portal-backup"),
    path("portal/drills/", api.DrillListView.as_view(), name="api-portal-drills"),
    path("portal/recovery/", api.StatusView.as_view(), name="api-portal-recovery"),
]
