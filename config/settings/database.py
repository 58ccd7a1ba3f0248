import dj_database_url

from config.env import env_int, env_str
from config.settings.base import BASE_DIR

DATABASE_URL = env_str("DATABASE_URL")

if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
        )
    }
    DATABASES["default"].setdefault("OPTIONS", {})
    # Fail fast during an outage instead of hanging a worker.
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT", 5))
    # Lets parallel test runs on one server use separate test databases.
    if env_str("TEST_DATABASE_NAME"):
        DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME")}
else:
    (BASE_DIR / "var").mkdir(exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(BASE_DIR / "var" / "db.sqlite3")),
            "OPTIONS": {"timeout": 20},
        }
    }

# Role names used by the PostgreSQL row-level security set-up (see README).
DATABASE_APP_ROLE = env_str("DATABASE_APP_ROLE", "mip_app")
