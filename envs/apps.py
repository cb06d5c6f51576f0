from django.apps import AppConfig

from portal import scopes


class EnvsConfig(AppConfig):
    name = "envs"
    verbose_name = "Environments"

    def ready(self) -> None:
        # Models can be imported only once apps are loaded, hence here and not at the top.
        from .models import environment_directory

        scopes.register(environment_directory())
