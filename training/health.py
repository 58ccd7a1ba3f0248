"""Operations endpoints: /healthz (database, broker, a worker heartbeat) and /readyz."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse

WORKER_CHECK_CACHE_SECONDS = 10


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "ok (tasks run in-process)"
    import redis

    redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    return "ok"


def _worker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "ok (tasks run in-process)"
    cached = cache.get("healthz:worker")
    if cached:
        return cached
    from config.celery import app

    replies = app.control.ping(timeout=0.5) or []
    status = f"ok ({len(replies)} worker(s))" if replies else "no worker answered"
    cache.set("healthz:worker", status, WORKER_CHECK_CACHE_SECONDS)
    return status


def _check(probe) -> str:
    try:
        return probe()
    except Exception as error:  # report, never raise: this is the health page
        return f"error: {type(error).__name__}: {error}"[:300]


def healthz(request: HttpRequest) -> JsonResponse:
    started = time.monotonic()
    checks = {"database": _check(_database), "broker": _check(_broker), "worker": _check(_worker)}
    healthy = all(value.startswith("ok") for value in checks.values())
    body = {"status": "ok" if healthy else "degraded", "checks": checks,
            "seconds": round(time.monotonic() - started, 3)}  # fmt: skip
    return JsonResponse(body, status=200 if healthy else 503)


def readyz(request: HttpRequest) -> JsonResponse:
    """Ready for traffic: the database answers and has every migration applied."""
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as error:
        return JsonResponse({"status": "not ready", "reason": str(error)[:300]}, status=503)
    if pending:
        return JsonResponse(
            {"status": "not ready", "reason": f"{len(pending)} migration(s) not applied"},
            status=503,
        )
    return JsonResponse({"status": "ready"})
