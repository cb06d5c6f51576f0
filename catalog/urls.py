from django.urls import path

from . import views

# Location routes first: "catalog/locations/1/refresh/" has as many segments as an entity.
urlpatterns = [
    path("catalog/", views.entity_list, name="catalog"),
    path("catalog/locations/", views.location_list, name="catalog-locations"),
    path("catalog/locations/<int:pk>/", views.location_detail, name="catalog-location"),
    path("catalog/locations/<int:pk>/preview/", views.location_preview,
         name="catalog-location-preview"),
    path("catalog/locations/<int:pk>/refresh/", views.location_refresh,
         name="catalog-location-refresh"),
    path("catalog/locations/<int:pk>/orphans/delete/", views.location_delete_orphans,
         name="catalog-location-orphans"),
    path("catalog/locations/<int:pk>/delete/", views.location_delete,
         name="catalog-location-delete"),
    path("catalog/<str:kind>/<str:namespace>/<str:name>/", views.entity_detail,
         name="catalog-entity"),
]
