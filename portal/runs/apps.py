from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "portal.runs"
    label = "runs"
    verbose_name = "Runs"

    def ready(self):
        from . import selfcheck  # noqa: F401  (registers the selfcheck kind)
