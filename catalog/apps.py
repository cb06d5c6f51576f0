from django.apps import AppConfig
from django.conf import settings

from portal.runs.schedules import SCHEDULES


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        # jobs imports the models, which exist only once apps are loaded (AppConfig.ready).
        from . import jobs  # noqa: F401  (registers the catalog_import run kind)

        SCHEDULES["catalog: refresh every location"] = {
            "func": "catalog.services.refresh_all",
            "schedule_type": "I",
            "minutes": settings.CATALOG_REFRESH_MINUTES,
        }
