from django.apps import AppConfig


class GitHubConfig(AppConfig):
    name = "envs.github"
    label = "github"
    verbose_name = "GitHub"

    def ready(self) -> None:
        # Imported once apps are loaded (app loading): they import the models; sections
        # register on import.
        from portal.auth.api import allow_deploy_tokens  # after app loading (AppConfig)

        from . import jobs, sections  # noqa: F401 - models exist after app loading
        from .services import deploy_token_refusal  # models exist after app loading

        jobs.register()
        # CI's narrow token: a deploy:<env> token may start deploys there (and read runs).
        allow_deploy_tokens("api-deploys-deploy", {"POST"}, env_kwarg="env",
                            check=deploy_token_refusal)
