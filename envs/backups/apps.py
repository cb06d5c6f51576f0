from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "envs.backups"
    label = "backups"
    verbose_name = "Backups"

    def ready(self) -> None:
        from . import jobs, sections  # noqa: F401 - sections register on import

        jobs.register_kinds()
