from django.urls import path

from . import views

urlpatterns = [
    path("settings/recovery/", views.page, name="recovery"),
    path("settings/recovery/backup/", views.backup_now, name="recovery-backup"),
    path("settings/recovery/drill/", views.drill_now, name="recovery-drill"),
    path("settings/recovery/kit/", views.kit, name="recovery-kit"),
]
