from django.apps import AppConfig

from portal.runs.schedules import SCHEDULES


class PlatformConfig(AppConfig):
    name = "envs.platform"
    label = "platform"
    verbose_name = "Platform services"

    def ready(self) -> None:
        # sections import the models, which exist only once apps are loaded.
        from . import sections  # noqa: F401 - registers the dashboard section (app loading)

        SCHEDULES["platform: health check"] = {
            "func": "envs.platform.jobs.check_platform",
            "schedule_type": "I",
            "minutes": 1,
        }
