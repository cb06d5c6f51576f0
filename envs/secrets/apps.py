from django.apps import AppConfig

from portal.runs.schedules import SCHEDULES


class SecretsConfig(AppConfig):
    name = "envs.secrets"
    label = "secrets"
    verbose_name = "Secrets"

    def ready(self) -> None:
        # Imported once the apps are loaded (AppConfig.ready): both use the models.
        from . import jobs, sections  # noqa: F401 - sections register on import

        jobs.register_kinds()
        SCHEDULES["secrets: rotate overdue auto-rotate secrets"] = {
            "func": "envs.secrets.services.rotate_overdue", "schedule_type": "D",
        }
