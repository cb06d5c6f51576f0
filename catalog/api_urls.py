from django.urls import path

from . import api as views

urlpatterns = [
    path("catalog/entities/", views.EntityListView.as_view(), name="api-catalog-entities"),
    path("catalog/entities/<str:kind>/<str:namespace>/<str:name>/",
         views.EntityDetailView.as_view(), name="api-catalog-entity"),
    path("catalog/locations/", views.LocationListView.as_view(), name="api-catalog-locations"),
    path("catalog/locations/<int:pk>/", views.LocationDetailView.as_view(),
         name="api-catalog-location"),
    path("catalog/locations/<int:pk>/refresh/", views.LocationRefreshView.as_view(),
         name="api-catalog-location-refresh"),
    path("catalog/locations/<int:pk>/orphans/", views.LocationOrphansView.as_view(),
         name="api-catalog-location-orphans"),
    path("catalog/validate/", views.ValidateView.as_view(), name="api-catalog-validate"),
]
