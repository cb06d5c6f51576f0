from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    name = "envs.recovery"
    label = "recovery"
    verbose_name = "Recovery"

    def ready(self) -> None:
        # jobs, sections and signals import the models, which exist only once apps are
        # loaded (app loading).
        from . import jobs, sections, signals  # noqa: F401 - sections register on import

        jobs.register_kinds()
        signals.connect()
