from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "envs.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # The receiver, the schedules and the dashboard section need the models: imported
        # once the apps are loaded (AppConfig.ready).
        from portal.runs.models import Run  # app loading: models are ready only now
        from portal.runs.signals import run_status_changed  # app loading, with the models

        # app loading: sections register on import, events and jobs read the models
        from . import events, jobs, sections  # noqa: F401

        run_status_changed.connect(events.on_run_status_changed, sender=Run,
                                   dispatch_uid="notifications.events")
        jobs.register_schedules()
