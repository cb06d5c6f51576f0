from django.apps import AppConfig


class SecretsConfig(AppConfig):
    name = "envs.secrets"
    label = "secrets"
