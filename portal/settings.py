"""Settings for the portal: one module, driven by environment variables.

Two profiles share this code path (docs/decisions.md, "Two profiles"):
- embedded (nothing set): SQLite under var/, local-memory cache, a Celery broker on
  the filesystem, e-mail written to var/mail/;
- services (DATABASE_URL and REDIS_URL set): PostgreSQL and Redis.
DJANGO_ENV=production adds the hardening that `check --deploy` asks for and refuses
to start without a real secret key and allowed hosts.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_bool, env_choice, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PORTAL_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)

DJANGO_ENV = env_choice("DJANGO_ENV", "development", choices={"development", "production"})
PRODUCTION = DJANGO_ENV == "production"
DEBUG = env_bool("DJANGO_DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG cannot be true when DJANGO_ENV=production.")


def _secret_key() -> str:
    configured = env_str("DJANGO_SECRET_KEY")
    if configured:
        if PRODUCTION and (len(configured) < 50 or len(set(configured)) < 5):
            raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 varied characters in production.")
        return configured
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_ENV=production.")
    # Development: generate one key per checkout and keep it, so sessions survive restarts.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when DJANGO_ENV=production.")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
PORTAL_BASE_URL = env_url("PORTAL_BASE_URL", schemes={"http", "https"}) or "http://127.0.0.1:8000"
PORTAL_NAME = env_str("PORTAL_NAME", "Developer Portal")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "portal",
    "accounts",
    "oauth2_provider",
    "apikeys",
    "payments_mock",
    "webhooks",
    "marketplace",
]

MIDDLEWARE = [
    "portal.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.OrganizationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

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
                "portal.context_processors.shell",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------
DATABASE_URL = env_url("DATABASE_URL", schemes={"postgres", "postgresql", "sqlite"})
if DATABASE_URL and not DATABASE_URL.startswith("sqlite"):
    _db = dj_database_url.parse(DATABASE_URL)
    _db["ENGINE"] = "django.db.backends.postgresql"
    if env_bool("DATABASE_POOL", default=False):
        # psycopg's pool (Django 5.1+); Django requires CONN_MAX_AGE=0 with it, and with
        # CONN_HEALTH_CHECKS it checks each connection as it leaves the pool.
        _db["CONN_MAX_AGE"] = 0
        _db["CONN_HEALTH_CHECKS"] = True
        _db["OPTIONS"] = {"pool": {"min_size": 1, "max_size": env_int("DATABASE_POOL_MAX_SIZE", 4, minimum=1)}}
    else:
        # Persistent connections, checked before reuse (docs/decisions.md).
        _db["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 600, minimum=0)
        _db["CONN_HEALTH_CHECKS"] = True
    DATABASES = {"default": _db}
else:
    _sqlite_path = DATABASE_URL.removeprefix("sqlite:///") if DATABASE_URL else str(VAR_DIR / "portal.sqlite3")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _sqlite_path,
            "OPTIONS": {
                # WAL lets readers and one writer work at once; IMMEDIATE takes the write
                # lock when a transaction starts, so the web process and the worker queue
                # behind the busy timeout instead of failing with "database is locked".
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
SERVICES_PROFILE = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Cache, sessions, Redis ----------------------------------------------------------
REDIS_URL = env_url("REDIS_URL", schemes={"redis", "rediss"})
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "portal",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "portal"}}

SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_AGE = 60 * 60 * 24 * 14
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# django-ratelimit wants a shared cache; the embedded profile is one process with a
# local-memory cache, which is exactly as shared as it needs to be there.
RATELIMIT_VIEW = "accounts.views.auth.ratelimited"
if not REDIS_URL:
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

# --- Celery ------------------------------------------------------------------------
if REDIS_URL:
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
else:
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
    _queue_dir = VAR_DIR / "celery" / "queue"
    _processed_dir = VAR_DIR / "celery" / "processed"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    _processed_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "store_processed": False,
        "control_folder": str(VAR_DIR / "celery" / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"

# --- E-mail ---------------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
    EMAIL_TIMEOUT = 10
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Developer Portal <no-reply@portal.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Auth -------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "portal:home"
PASSWORD_RESET_TIMEOUT = 60 * 60 * 3
EMAIL_VERIFICATION_MAX_AGE = 60 * 60 * 24 * 3
INVITATION_MAX_AGE_DAYS = 7

# Keys for secrets we must read back (TOTP seeds, later bank details), AES-256-GCM.
# A comma-separated list of base64 keys: the first encrypts, all decrypt (rotation).
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS")
if PRODUCTION and not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must be set when DJANGO_ENV=production.")

# --- API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Claims only `Bearer oat_...` access tokens; everything else falls through to keys.
        "apikeys.authentication.OAuthTokenAuthentication",
        "apikeys.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "portal.problems.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}

# API keys (docs/decisions.md, "API keys"). Peppers are `<version>:<secret>`, comma
# separated; the first hashes new keys, every listed one verifies keys that recorded it.
APIKEY_PEPPERS = env_list("APIKEY_PEPPERS")
if PRODUCTION and not APIKEY_PEPPERS:
    raise ImproperlyConfigured("APIKEY_PEPPERS must be set when DJANGO_ENV=production.")
# How long a process trusts its cached copy of a key row; the Redis revocation marker
# makes revocation win within a second regardless.
APIKEY_CACHE_TTL = env_int("APIKEY_CACHE_TTL", 60, minimum=1)
# The limiter's Redis (REDIS_URL unless set) and the tiers that do not come from plans.
APIKEY_REDIS_URL = env_url("APIKEY_REDIS_URL", schemes={"redis", "rediss"}) or REDIS_URL
APIKEY_IP_REQUESTS_PER_MINUTE = env_int("APIKEY_IP_REQUESTS_PER_MINUTE", 600, minimum=1)
APIKEY_PENALTY_THRESHOLD = env_int("APIKEY_PENALTY_THRESHOLD", 50, minimum=1)
APIKEY_PENALTY_BASE_SECONDS = env_int("APIKEY_PENALTY_BASE_SECONDS", 60, minimum=1)
APIKEY_PENALTY_MAX_SECONDS = env_int("APIKEY_PENALTY_MAX_SECONDS", 3600, minimum=1)
# Captured request records wait at most this long in a process before being shipped.
APIKEY_CAPTURE_MAX_DELAY = env_int("APIKEY_CAPTURE_MAX_DELAY", 2, minimum=1)
# Ship captured records from a background thread when a process goes quiet (tests turn it off).
APIKEY_CAPTURE_BACKGROUND = env_bool("APIKEY_CAPTURE_BACKGROUND", default=True)
CELERY_BEAT_SCHEDULE = {
    "apikeys-flush-request-logs": {"task": "apikeys.tasks.flush_request_logs", "schedule": 10.0},
    "apikeys-expiry-notices": {"task": "apikeys.tasks.send_expiry_notices", "schedule": 3600.0},
    "accounts-housekeeping": {"task": "accounts.tasks.housekeeping", "schedule": 3600.0},
    "apikeys-purge-idempotency": {"task": "apikeys.tasks.purge_idempotency_records", "schedule": 3600.0},
    "apikeys-purge-expired-oauth-tokens": {"task": "apikeys.tasks.purge_expired_oauth_tokens", "schedule": 3600.0},
    "payments-mock-settle": {"task": "payments_mock.tasks.settle_due", "schedule": 15.0},
    "payments-mock-billing": {"task": "payments_mock.tasks.run_billing", "schedule": 60.0},
    "webhooks-dispatch-due-deliveries": {"task": "webhooks.tasks.dispatch_due_deliveries", "schedule": 1.0},
    "webhooks-sweep-unfanned-events": {"task": "webhooks.tasks.sweep_unfanned_events", "schedule": 60.0},
    "webhooks-purge-old": {"task": "webhooks.tasks.purge_old_webhooks", "schedule": 86400.0},
    # Monthly, 00:30 UTC on the 1st: close the previous month (marketplace revenue; safe to run twice).
    "marketplace-close-billing-period": {
        "task": "marketplace.tasks.close_billing_period",
        "schedule": crontab(minute=30, hour=0, day_of_month=1),
    },
    "support-auto-close": {"task": "portal.tasks.support_auto_close", "schedule": 3600.0},
}

# Webhooks (docs/decisions.md, "Webhooks"). Private, loopback and link-local delivery
# targets are allowed only in development (the embedded profile and tests deliver to a
# receiver on 127.0.0.1); cloud metadata addresses are refused regardless.
WEBHOOKS_ALLOW_PRIVATE_URLS = env_bool("WEBHOOKS_ALLOW_PRIVATE_URLS", default=not PRODUCTION)
# How long a dispatched or in-flight delivery is left alone before it is handed out
# again (a worker killed mid-send); keep it above the 15 s delivery timeout.
WEBHOOKS_LEASE_SECONDS = env_int("WEBHOOKS_LEASE_SECONDS", 60, minimum=1)

# Support tickets (docs/decisions.md, "Support tickets"). New tickets and replies on
# unassigned tickets go to the staff address; attachments are capped per file; resolved
# tickets close (finally) after the given number of days and can be reopened until then.
SUPPORT_STAFF_EMAIL = env_str("SUPPORT_STAFF_EMAIL", "support@portal.localhost")
if "@" not in SUPPORT_STAFF_EMAIL.strip("@"):
    raise ImproperlyConfigured(f"SUPPORT_STAFF_EMAIL must be an e-mail address, got {SUPPORT_STAFF_EMAIL!r}.")
SUPPORT_ATTACHMENT_MAX_BYTES = env_int("SUPPORT_ATTACHMENT_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
SUPPORT_RESOLVED_CLOSE_DAYS = env_int("SUPPORT_RESOLVED_CLOSE_DAYS", 7, minimum=1)

# Marketplace images (docs/decisions.md, "Marketplace images"): byte caps per upload and a
# pixel cap read from the header before decoding (image bombs). The request body for
# anything but files stays under Django's 2.5 MB default.
MARKETPLACE_LOGO_MAX_BYTES = env_int("MARKETPLACE_LOGO_MAX_BYTES", 1024 * 1024, minimum=1024)
MARKETPLACE_SCREENSHOT_MAX_BYTES = env_int("MARKETPLACE_SCREENSHOT_MAX_BYTES", 4 * 1024 * 1024, minimum=1024)
MARKETPLACE_IMAGE_MAX_PIXELS = env_int("MARKETPLACE_IMAGE_MAX_PIXELS", 25_000_000, minimum=1_000_000)

# OAuth 2.0 (django-oauth-toolkit; docs/decisions.md, "OAuth 2.0"). Our application model
# must exist before DOT's first migration runs (apikeys/migrations/0002 runs before it).
OAUTH2_PROVIDER_APPLICATION_MODEL = "apikeys.OAuthApplication"
OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    "REFRESH_TOKEN_EXPIRE_SECONDS": 30 * 24 * 3600,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    # A refresh token used twice revokes its whole family (RFC 9700 4.14.2).
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],  # test-mode applications widen this to loopback http
    "SCOPES_BACKEND_CLASS": "apikeys.oauth.CatalogueScopes",
    "OAUTH2_VALIDATOR_CLASS": "apikeys.oauth.PortalOAuth2Validator",
    "ACCESS_TOKEN_GENERATOR": "apikeys.oauth.generate_access_token",
    "REFRESH_TOKEN_GENERATOR": "apikeys.oauth.generate_refresh_token",
    "CLIENT_SECRET_GENERATOR_LENGTH": 64,
    "REQUEST_APPROVAL_PROMPT": "force",
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    # Tokens are stored as SHA-256 checksums only, never in plain text.
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Developer Portal API",
    "DESCRIPTION": "The public API of the developer portal. Errors are RFC 9457 problem documents.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {
        "EnvironmentEnum": "apikeys.models.Environment",
        "ApiKeyStatusEnum": "apikeys.models.ApiKey.Status",
        "PaymentStatusEnum": "payments_mock.models.Payment.Status",
        # pending/succeeded/failed: refunds and webhook deliveries share these states
        "OutcomeStatusEnum": "payments_mock.models.Refund.Status",
        "RefundReasonEnum": "payments_mock.models.Refund.Reason",
        "BankAccountStatusEnum": "payments_mock.models.BankAccount.Status",
        "SubscriptionStatusEnum": "payments_mock.models.Subscription.Status",
        "InvoiceStatusEnum": "payments_mock.models.Invoice.Status",
        "PaymentCancellationReasonEnum": "payments_mock.api.serializers.CANCELLATION_REASONS",
    },
}

# --- Internationalisation, static ----------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Outside production, serve straight from static/ so no collectstatic step is needed.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security headers --------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env_bool("SECURE_PROXY_SSL_HEADER", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Logging -----------------------------------------------------------------------------
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", choices={"debug", "info", "warning", "error"}).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "portal.logging.RequestIdFilter"}},
    "formatters": {"json": {"()": "portal.logging.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django.server": {"level": "WARNING"},
    },
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The filesystem transport has no host; kombu warns about that on every connection.
    LOGGING["loggers"]["kombu.connection"] = {"level": "ERROR"}
CSRF_FAILURE_VIEW = "portal.views.csrf_failure"
