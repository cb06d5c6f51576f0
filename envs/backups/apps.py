from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "envs.backups"
    label = "backups"
    verbose_name = "Backups"

    def ready(self) -> None:
        # jobs and sections import the models, which exist only once apps are loaded.
        from . import jobs, sections  # noqa: F401 - sections register on import (app loading)

        jobs.register_kinds()
