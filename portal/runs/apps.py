from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "portal.runs"
    label = "runs"
    verbose_name = "Runs"

    def ready(self) -> None:
        # selfcheck imports the models, which exist only once apps are loaded.
        from . import selfcheck  # noqa: F401  (registers the selfcheck kind)
