from django.apps import AppConfig


class BoardConfig(AppConfig):
    name = "envs.board"
    label = "board"
    verbose_name = "Board"

    def ready(self) -> None:
        # Imported once the apps are loaded (AppConfig.ready): sections read the models.
        from . import sections  # noqa: F401 - sections register on import
