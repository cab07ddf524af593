"""Settings, configured only by environment variables (see README.md).

Each variable is read by a typed helper below, which stops the process at start with a message
naming the variable when its value is wrong.
"""

import logging
import os
import re
import zoneinfo
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}: expected a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a whole number, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in env_str(name, default).split(",") if part.strip()]


def env_int_list(name: str, default: str) -> list[int]:
    try:
        values = [int(part) for part in env_list(name, default)]
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}: expected comma-separated whole numbers, got {os.environ.get(name)!r}"
        ) from None
    if not values or any(v < 0 for v in values):
        raise ImproperlyConfigured(f"{name}: expected at least one non-negative number")
    return values


def env_choice(name: str, default: str, choices: Iterable[str]) -> str:
    value = env_str(name, default)
    allowed = list(choices)
    if value not in allowed:
        raise ImproperlyConfigured(f"{name}: expected one of {', '.join(allowed)}, got {value!r}")
    return value


def env_log_level(name: str, default: str) -> str:
    """A level name of Python's logging (any case): DEBUG, INFO, WARNING, ERROR, CRITICAL."""
    value = env_str(name, default).strip().upper()
    if value not in logging.getLevelNamesMapping():
        raise ImproperlyConfigured(
            f"{name}: expected a log level (DEBUG, INFO, WARNING, ERROR, CRITICAL), "
            f"got {os.environ.get(name)!r}"
        )
    return value


# What DRF's throttles read: requests per second, minute, hour or day (only the unit's first
# letter counts to DRF; these are the spellings README.md offers).
RATE_RE = re.compile(r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)s?")


def env_rate(name: str, default: str) -> str:
    value = env_str(name, default).strip()
    if not RATE_RE.fullmatch(value):
        raise ImproperlyConfigured(
            f"{name}: expected N/s, N/min, N/hour or N/day (N at least 1), got {value!r}"
        )
    return value


def env_time_zone(name: str, default: str) -> str:
    value = env_str(name, default)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"{name}: expected a time zone name such as Europe/Paris, got {value!r}"
        ) from None
    return value


VAR_DIR = Path(env_str("HANDOFF_VAR_DIR", str(BASE_DIR / "var")))


def _is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://"))


def parse_database_url(url: str) -> dict:
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        # sqlite:///relative/path or sqlite:////absolute/path
        path = unquote(parsed.path[1:]) if parsed.path.startswith("/") else parsed.path
        if not path:
            raise ImproperlyConfigured("DATABASE_URL: a sqlite URL needs a file path")
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path if os.path.isabs(path) else str(BASE_DIR / path),
            "OPTIONS": {
                # WAL lets readers and one writer work at once; IMMEDIATE transactions and
                # a busy timeout make concurrent writers wait instead of failing "locked".
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
            # A file (not memory) so that worker processes started by tests can open it; one
            # per test run so that parallel runs never share it.
            "TEST": {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")},
        }
    if parsed.scheme in ("postgres", "postgresql", "pgsql"):
        options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        # An unreachable server fails a request in seconds (a 503), not at gunicorn's timeout.
        options.setdefault("connect_timeout", "5")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")) or "postgres",
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL: unsupported scheme {parsed.scheme!r} (use sqlite:/// or postgres://)"
    )


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY: required when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

VAR_DIR.mkdir(parents=True, exist_ok=True)
(VAR_DIR / "staticfiles").mkdir(exist_ok=True)
DATABASES = {
    "default": parse_database_url(env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"))
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "handoff.User"

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
    "django_htmx",
    "template_partials",
    "handoff",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.security.ContentSecurityPolicyMiddleware",
    "portal.middleware.LogContextMiddleware",
    "handoff.api.middleware.ApiBodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After AuthenticationMiddleware: the user's own language beats Accept-Language.
    "portal.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "portal.context_processors.navigation",
            ],
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ja", "日本語")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_time_zone("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "portal" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=60)
SESSION_COOKIE_SECURE = not DEBUG and env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HSTS: a year by default in production (docs/security.md); SECURE_HSTS_SECONDS=0 turns it off.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", SECURE_HSTS_SECONDS > 0)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Off by default: the reverse proxy redirects http to https (docs/deploy.md), and a redirect
# here would also catch the proxy's own plain-http health checks. On when no proxy does it.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# The deploy checks warn about both defaults; they are decisions, not oversights: the proxy
# redirects to https (docs/deploy.md), and HSTS preloading commits the whole domain for
# months, which only its owner may decide (SECURE_HSTS_PRELOAD=1).
SILENCED_SYSTEM_CHECKS = [
    *([] if SECURE_SSL_REDIRECT else ["security.W008"]),
    *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
]
# /health/ answers load balancers over plain http even when SECURE_SSL_REDIRECT is on.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SESSION_EXPIRE_AT_BROWSER_CLOSE = False
# Login throttling (portal/security.py): failures per username and address in 15 minutes.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10, minimum=1)
# Reverse proxies in front of the web processes that append to X-Forwarded-For (nginx: 1), so
# the login throttle and the web chat's limits see the client's address rather than the
# proxy's (portal/security.py client_address, docs/deploy.md).
TRUSTED_PROXY_HOPS = env_int("TRUSTED_PROXY_HOPS", 0)
# The public demo web chat, per client address (portal/views/webchat.py, docs/conversations.md).
WEBCHAT_MESSAGES_PER_MINUTE = env_int("WEBCHAT_MESSAGES_PER_MINUTE", 20, minimum=1)
WEBCHAT_CONVERSATIONS_PER_HOUR = env_int("WEBCHAT_CONVERSATIONS_PER_HOUR", 20, minimum=1)

# 1 MiB request bodies (docs/api.md); the API answers 413 past that.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["handoff.api.auth.BotKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["handoff.api.auth.IsBot"],
    "DEFAULT_PARSER_CLASSES": ["handoff.api.json_codec.JsonParser"],
    "DEFAULT_RENDERER_CLASSES": ["handoff.api.json_codec.JsonRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "handoff.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Handoff Portal API",
    "DESCRIPTION": "Hand a bot conversation to a human agent.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"HandoffStatusEnum": "handoff.api.schema.HANDOFF_STATUSES"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "handoff.api.schema.document_limits",
    ],
}

# The cache holds API throttling counters: set CACHE_URL=redis://... when several web
# processes must share them; the default is per process.
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL and not CACHE_URL.startswith("redis://"):
    raise ImproperlyConfigured(f"CACHE_URL: only redis:// URLs are supported, got {CACHE_URL!r}")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "handoff-portal",
        }
    )
}

# Live updates (docs/deploy.md): with a Redis URL an event wakes every web process at once;
# without one each web process reads the event table every LIVE_POLL_MS (the embedded default).
LIVE_URL = env_str(
    "LIVE_URL",
    next((u for u in (CACHE_URL, os.environ.get("CELERY_BROKER_URL", "")) if _is_redis(u)), ""),
)
if LIVE_URL and not _is_redis(LIVE_URL):
    raise ImproperlyConfigured(f"LIVE_URL: only redis:// URLs are supported, got {LIVE_URL!r}")
LIVE_POLL_MS = env_int("LIVE_POLL_MS", 150, minimum=10)

# Celery: the embedded default is kombu's SQLAlchemy transport on a SQLite file, so a real
# worker process runs without any server. Production points this at Redis or RabbitMQ.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", f"sqla+sqlite:///{VAR_DIR / 'broker.sqlite3'}")
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup would close the database connection around every task; portal/celery.py
# closes it as Django does between requests instead. This only bounds how long one stays open.
CELERY_DB_REUSE_MAX = 10_000
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must never hang a request when the broker is down: fail fast, the sweep recovers.
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"max_retries": 0, "interval_start": 0}
if CELERY_BROKER_URL.startswith("sqla+"):
    # The embedded broker is polled (kombu's default: once a second; portal/broker.py), and
    # a worker holding only the messages it runs would poll again after each one finishes.
    CELERY_BROKER_TRANSPORT_OPTIONS["polling_interval"] = 0.05
    CELERY_WORKER_PREFETCH_MULTIPLIER = 4
else:
    # kombu's SQLAlchemy transport passes its options to create_engine(), which refuses this.
    CELERY_BROKER_TRANSPORT_OPTIONS["socket_timeout"] = 2
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "sweep-handoffs": {"task": "handoff.tasks.sweep", "schedule": 10.0},
    "expire-idempotency-keys": {
        "task": "handoff.tasks.expire_idempotency_keys",
        "schedule": 3600.0,
    },
    # Data retention (handoff/services/retention.py).
    "purge-expired-handoffs": {"task": "handoff.tasks.purge_expired", "schedule": 3600.0},
}

HANDOFF_API_RATE = env_rate("HANDOFF_API_RATE", "1200/min")
# The API's two hot statements are prepared on PostgreSQL (handoff/selectors/sql.py); 0 for
# a PgBouncer older than 1.21 in transaction mode.
HANDOFF_DB_PREPARE = env_bool("HANDOFF_DB_PREPARE", True)
HANDOFF_WEBHOOK_ALLOW_PRIVATE = env_bool("HANDOFF_WEBHOOK_ALLOW_PRIVATE", False)
# Standard Webhooks' advice: retry over days (a receiver's outage can last a weekend night),
# give a receiver 15-30 s to answer. The last attempt here is about 3 days after the first.
HANDOFF_WEBHOOK_RETRY_DELAYS = env_int_list(
    "HANDOFF_WEBHOOK_RETRY_DELAYS", "5,300,1800,7200,18000,36000,36000,86400,86400"
)
# Seconds one attempt may take in all: name resolution, connection, TLS, sending, the answer.
HANDOFF_WEBHOOK_TIMEOUT = env_int("HANDOFF_WEBHOOK_TIMEOUT", 15, minimum=1)
# Key for encrypting secrets at rest (webhook secrets); derived from SECRET_KEY when unset.
HANDOFF_ENCRYPTION_KEY = env_str("HANDOFF_ENCRYPTION_KEY", "")

# Transcripts, context and messages of closed handoffs are purged after this many days
# (handoff/services/retention.py); 0 keeps them forever.
HANDOFF_RETENTION_DAYS = env_int("HANDOFF_RETENTION_DAYS", 90)

# Every log line carries the handoff id in hand (handoff/logging.py); LOG_FORMAT=json writes
# one JSON object per line for log collectors.
LOG_FORMAT = env_choice("LOG_FORMAT", "plain", ("plain", "json"))
LOG_LEVEL = env_log_level("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"handoff_context": {"()": "handoff.logging.HandoffContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(handoff_id)s] %(message)s"},
        "json": {"()": "handoff.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["handoff_context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}
