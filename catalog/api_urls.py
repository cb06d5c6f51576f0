from django.urls import path

from . import api as views
from . import backstage_api as bs

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
    # Backstage-compatible read routes (no trailing slash, as @backstage/catalog-client
    # calls them): see catalog/backstage_api.py.
    path("catalog/entities", bs.EntitiesView.as_view(), name="backstage-entities"),
    path("catalog/entities/by-query", bs.EntitiesByQueryView.as_view(),
         name="backstage-entities-by-query"),
    path("catalog/entities/by-refs", bs.EntitiesByRefsView.as_view(),
         name="backstage-entities-by-refs"),
    path("catalog/entities/by-uid/<str:uid>", bs.EntityByUidView.as_view(),
         name="backstage-entity-by-uid"),
    path("catalog/entities/by-name/<str:kind>/<str:namespace>/<str:name>",
         bs.EntityByNameView.as_view(), name="backstage-entity-by-name"),
    path("catalog/entities/by-name/<str:kind>/<str:namespace>/<str:name>/ancestry",
         bs.EntityAncestryView.as_view(), name="backstage-entity-ancestry"),
    path("catalog/entity-facets", bs.EntityFacetsView.as_view(),
         name="backstage-entity-facets"),
    path("catalog/locations", bs.LocationsView.as_view(), name="backstage-locations"),
    path("catalog/locations/<str:pk>", bs.LocationView.as_view(), name="backstage-location"),
]
