from django.apps import AppConfig


class DeploysConfig(AppConfig):
    name = "envs.deploys"
    label = "deploys"
    verbose_name = "Deploys"

    def ready(self) -> None:
        # Imported once the apps are loaded (AppConfig.ready): both use the models.
        from . import jobs, sections  # noqa: F401 - sections register on import

        jobs.register_kinds()
