from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"

    def ready(self):
        from django.conf import settings

        from portal.runs.schedules import SCHEDULES

        from . import jobs  # noqa: F401  (registers the catalog_import run kind)

        SCHEDULES["catalog: refresh every location"] = {
            "func": "catalog.jobs.refresh_all",
            "schedule_type": "I",
            "minutes": settings.CATALOG_REFRESH_MINUTES,
        }
