from django.apps import AppConfig


class EnvsConfig(AppConfig):
    name = "envs"
    verbose_name = "Environments"
