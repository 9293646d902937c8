"""Django settings for the reference app; deployment-specific values come from the environment (docs/settings.md)."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from reference_app.config import channel_layers_setting, env_bool, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("REFERENCE_APP_DATA_DIR") or Path.cwd() / "var")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "reference-app-insecure-development-key-set-DJANGO_SECRET_KEY"
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "reference_app.accounts",
    "reference_app.chat",
    "reference_app.notifications",
    "reference_app.timeclock",
    "reference_app.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "reference_app.urls"
ASGI_APPLICATION = "reference_app.asgi.application"

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
            ],
        },
    },
]


def _database() -> dict[str, object]:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'reference_app.sqlite3'}"
    config: dict[str, object] = dict(dj_database_url.parse(url, conn_max_age=0))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        Path(str(config["NAME"])).parent.mkdir(parents=True, exist_ok=True)
        # Several server processes and the timeclock worker write to one file: WAL lets readers proceed during a
        # write, IMMEDIATE takes the write lock at BEGIN so two writers queue on the timeout instead of failing
        # mid-transaction.
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CHANNEL_LAYERS = channel_layers_setting()

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
SESSION_ENGINE = "django.contrib.sessions.backends.db"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# The shared page assets live beside the settings, not in one of the apps.
STATICFILES_DIRS = [BASE_DIR / "static"]

# Every socket re-joins its groups this often (seconds; 0: never), so a membership Redis lost comes back and the
# layer's group_expiry can drop the channels of a killed process (docs/reliability.md).
GROUP_REFRESH_S = env_int("GROUP_REFRESH_S", 60, minimum=0)
# Limits applied to every JSON WebSocket endpoint (docs/protocols.md).
WS_MAX_MESSAGE_BYTES = env_int("WS_MAX_MESSAGE_BYTES", 64 * 1024, minimum=256)
CHAT_MAX_TEXT_CHARS = env_int("CHAT_MAX_TEXT_CHARS", 4000, minimum=1)
# Test only: CPU microseconds spent on every chat message received, so harness gate's validation can inject a
# regression of known size. 0 (off) unless set; never set it in a deployment.
TEST_ONLY_CHAT_CPU_US = env_int("REFERENCE_APP_TEST_ONLY_CHAT_CPU_US", 0, minimum=0)
# Test only: a deliberate hole (the notifications socket also joins the group of ?user=<id>), so the authorization
# fuzz's own test can show it finds one. Off unless set; never set it in a deployment.
TEST_ONLY_NOTIFY_GROUP_FROM_QUERY = env_bool("REFERENCE_APP_TEST_ONLY_NOTIFY_GROUP_FROM_QUERY", False)
NOTIFICATIONS_BACKLOG_LIMIT = env_int("NOTIFICATIONS_BACKLOG_LIMIT", 200, minimum=0)
NOTIFICATIONS_MAX_RECIPIENTS = env_int("NOTIFICATIONS_MAX_RECIPIENTS", 10_000, minimum=1)
TIMECLOCK_CHANNEL = os.environ.get("TIMECLOCK_CHANNEL") or "timeclock-punches"
# The in-memory layer lives inside one process, so with it the timeclock worker must run inside the server process.
TIMECLOCK_WORKER_IN_PROCESS = env_bool(
    "TIMECLOCK_WORKER_IN_PROCESS", CHANNEL_LAYERS["default"]["BACKEND"].endswith("InMemoryChannelLayer")
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        # Not propagated: Daphne gives the root logger a handler of its own, and every line would be written twice
        # (the harness counts the lines below, and counted each drop twice under Daphne).
        "reference_app": {
            "handlers": ["console"],
            "level": os.environ.get("REFERENCE_APP_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
        # channels-redis reports group_send drops at capacity at INFO; the harness counts them from the server logs.
        "channels_redis": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
