from django.apps import AppConfig

from portal import scopes

from .sections import dashboard_section


class EnvsConfig(AppConfig):
    name = "envs"
    verbose_name = "Environments"

    def ready(self) -> None:
        # Both import models, which exist only once apps are loaded: hence here.
        from catalog import sections as catalog_sections

        # (apps are loaded now: the models import)
        from .models import environment_directory

        scopes.register(environment_directory())
        # The catalog may not import this layer's section registry: its part is added here.
        dashboard_section(2, "catalog/_dashboard.html")(catalog_sections.dashboard)
