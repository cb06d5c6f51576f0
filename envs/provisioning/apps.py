from django.apps import AppConfig

from portal.runs.schedules import SCHEDULES


class ProvisioningConfig(AppConfig):
    name = "envs.provisioning"
    label = "provisioning"
    verbose_name = "Provisioning (Terraform)"

    def ready(self) -> None:
        # sections and jobs import the models, which exist only once apps are loaded.
        from . import sections  # noqa: F401 - registers the page sections (app loading)
        from .jobs import next_drift_time, register_kinds  # the run kinds (app loading)

        register_kinds()
        SCHEDULES["provisioning: nightly drift check"] = {
            "func": "envs.provisioning.services.drift_all",
            "schedule_type": "D",
            "next_run": next_drift_time(),
        }
        SCHEDULES["provisioning: expire old plans"] = {
            "func": "envs.provisioning.jobs.expire_plans",
            "schedule_type": "I",
            "minutes": 5,
        }
