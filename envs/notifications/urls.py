from django.urls import path

from . import views

urlpatterns = [
    path("settings/notifications/", views.page, name="notifications"),
    path("settings/notifications/add/", views.add, name="notification-add"),
    path("settings/notifications/<int:pk>/", views.change, name="notification-change"),
    path("settings/notifications/<int:pk>/test/", views.test, name="notification-test"),
    path("settings/notifications/<int:pk>/delete/", views.delete, name="notification-delete"),
]
