from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "envs.provisioning"
    label = "provisioning"
