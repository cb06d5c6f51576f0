from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "envs.backups"
    label = "backups"
