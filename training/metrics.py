"""Prometheus metrics of the training platform, read from the database and broker at scrape
time, so every web process reports the same figures whichever worker did the work."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import Count, F, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import REGISTRY

from tenants.context import tenant_scope
from tenants.models import Tenant
from training.models import TrainingRun

logger = logging.getLogger(__name__)
QUEUES = ("training", "celery")


class TrainingCollector:
    def describe(self):
        # Lets registration skip a collect() (and its queries) at start-up.
        yield CounterMetricFamily("mip_training_runs", "", labels=["kind", "status"])
        yield CounterMetricFamily("mip_training_run_seconds", "", labels=["kind", "status"])
        yield GaugeMetricFamily("mip_queue_length", "", labels=["queue"])

    def collect(self):
        runs = CounterMetricFamily(
            "mip_training_runs", "Training runs by kind and status.", labels=["kind", "status"]
        )
        seconds = CounterMetricFamily(
            "mip_training_run_seconds",
            "Total wall time of finished training runs, by kind and status.",
            labels=["kind", "status"],
        )
        try:
            tenant_ids = list(Tenant.objects.values_list("id", flat=True))
            with tenant_scope(tenants=tenant_ids):
                rows = (
                    TrainingRun.objects.values("kind", "status")
                    .annotate(n=Count("id"), total=Sum(F("finished_at") - F("started_at")))
                    .order_by()
                )
                for row in rows:
                    runs.add_metric([row["kind"], row["status"]], row["n"])
                    total = row["total"].total_seconds() if row["total"] else 0.0
                    seconds.add_metric([row["kind"], row["status"]], total)
        except Exception:  # a scrape must not fail because the database blinked
            logger.exception("training metrics unavailable")
        yield runs
        yield seconds
        queue = GaugeMetricFamily(
            "mip_queue_length", "Messages waiting per queue.", labels=["queue"]
        )
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            try:
                import redis

                client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1)
                for name in QUEUES:
                    queue.add_metric([name], client.llen(name))
            except Exception:
                logger.exception("queue length unavailable")
        yield queue


_registered = False


def register_collector() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(TrainingCollector())
        _registered = True
