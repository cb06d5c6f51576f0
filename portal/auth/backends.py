"""GitHub OAuth with URLs from settings, so tests can point it at a local fake GitHub."""

from django.conf import settings
from social_core.backends.github import GithubOAuth2


class GitHubOAuth2(GithubOAuth2):
    name = "github"

    @property
    def AUTHORIZATION_URL(self):  # noqa: N802 (social-core's attribute name)
        return f"{settings.GITHUB_URL}/login/oauth/authorize"

    @property
    def ACCESS_TOKEN_URL(self):  # noqa: N802
        return f"{settings.GITHUB_URL}/login/oauth/access_token"

    def api_url(self) -> str:
        return settings.GITHUB_API_URL + "/"
