from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from social_django import views as social_views

from envs import views as env_views
from envs.provisioning import api as env_api
from envs.sections import TABS as ENV_TABS
from portal import views
from portal.audit import api as audit_api
from portal.audit import views as audit_views
from portal.auth import views as auth_views
from portal.runs import api as run_api
from portal.runs import views as run_views

handler404 = "portal.views.not_found"
handler500 = "portal.views.server_error"

social_patterns = (
    [
        path("login/<str:backend>/", auth_views.rate_limited(social_views.auth), name="begin"),
        path("complete/<str:backend>/", auth_views.rate_limited(social_views.complete),
             name="complete"),
    ],
    "social",
)

api_patterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: the CSP allows no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("runs/", run_api.RunListView.as_view(), name="api-runs"),
    path("runs/<int:pk>/", run_api.RunDetailView.as_view(), name="api-run"),
    path("runs/<int:pk>/log/", run_api.RunLogView.as_view(), name="api-run-log"),
    path("runs/<int:pk>/cancel/", run_api.RunCancelView.as_view(), name="api-run-cancel"),
    path("audit/", audit_api.AuditListView.as_view(), name="api-audit"),
    path("envs/", env_api.EnvironmentListView.as_view(), name="api-envs"),
    path("envs/<str:env>/", env_api.EnvironmentDetailView.as_view(), name="api-env"),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("signin/", auth_views.signin, name="signin"),
    path("signin/link/<str:token>/", auth_views.signin_link, name="signin-link"),
    path("auth/", include(social_patterns)),
    path("signout/", auth_views.signout, name="signout"),
    path("", env_views.dashboard, name="dashboard"),
    path("runs/", run_views.run_list, name="runs"),
    path("runs/selfcheck/", run_views.start_selfcheck, name="run-selfcheck"),
    path("runs/<int:pk>/", run_views.run_detail, name="run"),
    path("runs/<int:pk>/lines", run_views.run_lines, name="run-lines"),
    path("runs/<int:pk>/cancel/", run_views.cancel, name="run-cancel"),
    path("audit/", audit_views.audit_list, name="audit"),
    path("envs/", env_views.env_list, name="envs"),
    path("envs/<str:name>/", env_views.env_detail, name="env"),
    # the environment page's tabs, each its own URL (only these names: the features' own
    # envs/<name>/<action>/ routes stay theirs); envs/<name>/ is the Overview, "all" is
    # every section on one page
    re_path(rf"^envs/(?P<name>[^/]+)/(?P<tab>{'|'.join([*dict(ENV_TABS), 'all'])})/$",
            env_views.env_detail, name="env-tab"),
    path("settings/tokens/", auth_views.tokens, name="tokens"),
    path("settings/tokens/<int:pk>/revoke/", auth_views.revoke_token, name="token-revoke"),
    path("api/", include(api_patterns)),
    # Each capability brings its own pages and API endpoints.
    path("", include("catalog.urls")),
    path("api/", include("catalog.api_urls")),
    path("", include("envs.provisioning.urls")),
    path("api/", include("envs.provisioning.api_urls")),
    path("", include("envs.deploys.urls")),
    path("api/", include("envs.deploys.api_urls")),
    path("", include("envs.secrets.urls")),
    path("api/", include("envs.secrets.api_urls")),
    path("", include("envs.backups.urls")),
    path("api/", include("envs.backups.api_urls")),
    path("", include("envs.platform.urls")),
    path("api/", include("envs.platform.api_urls")),
    path("", include("envs.notifications.urls")),
    path("api/", include("envs.notifications.api_urls")),
    # /hooks/github/ (top level, signed by GitHub), Settings → GitHub, /api/github/
    path("", include("envs.github.urls")),
    path("api/", include("envs.github.api_urls")),
    # /board/: components × environments, Deploy / Promote / Rollback in each cell
    path("", include("envs.board.urls")),
    # Settings → Recovery, /api/portal/ (self-backups, drills, status)
    path("", include("envs.recovery.urls")),
    path("api/", include("envs.recovery.api_urls")),
]
