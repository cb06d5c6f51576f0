from django.apps import AppConfig


class PortalAuthConfig(AppConfig):
    name = "portal.auth"
    label = "portal_auth"
    verbose_name = "Sign-in and tokens"
