"""Settings, read from the environment; split by concern so no file grows large.

With no environment set the project runs on the embedded default (SQLite, eager
Celery, local-memory cache). `DATABASE_URL` and `REDIS_URL` switch it to
PostgreSQL and Redis with real worker and beat processes.
"""

from config.settings.api import *  # noqa: F401,F403
from config.settings.base import *  # noqa: F401,F403
from config.settings.campaigns import *  # noqa: F401,F403
from config.settings.database import *  # noqa: F401,F403
from config.settings.logging import *  # noqa: F401,F403
from config.settings.queue import *  # noqa: F401,F403
