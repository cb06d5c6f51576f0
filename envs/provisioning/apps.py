from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "envs.provisioning"
    label = "provisioning"
    verbose_name = "Provisioning (Terraform)"

    def ready(self) -> None:
        from portal.runs.schedules import SCHEDULES

        from . import sections  # noqa: F401 - registers the page sections
        from .jobs import next_drift_time, register_kinds

        register_kinds()
        SCHEDULES["provisioning: nightly drift check"] = {
            "func": "envs.provisioning.jobs.drift_all",
            "schedule_type": "D",
            "next_run": next_drift_time(),
        }
        SCHEDULES["provisioning: expire old plans"] = {
            "func": "envs.provisioning.jobs.expire_plans",
            "schedule_type": "I",
            "minutes": 5,
        }
