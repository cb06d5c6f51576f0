from django.apps import AppConfig


class SecretsConfig(AppConfig):
    name = "envs.secrets"
    label = "secrets"
    verbose_name = "Secrets"

    def ready(self) -> None:
        from portal.runs.schedules import SCHEDULES

        from . import jobs, sections  # noqa: F401 - sections register on import

        jobs.register_kinds()
        SCHEDULES["secrets: rotate overdue auto-rotate secrets"] = {
            "func": "envs.secrets.jobs.rotate_overdue", "schedule_type": "D",
        }
