from django.apps import AppConfig


class DeploysConfig(AppConfig):
    name = "envs.deploys"
    label = "deploys"
