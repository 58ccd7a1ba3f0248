"""A real Celery worker on Redis against the test database, for the worker tests (CI)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.db import connections

ROOT = Path(__file__).resolve().parents[1]
STALE_SECONDS = 3
needs_worker = pytest.mark.skipif(
    not (os.environ.get("REDIS_URL") and connections["default"].vendor == "postgresql"),
    reason="needs PostgreSQL and Redis (set DATABASE_URL and REDIS_URL)",
)


class WorkerProcess:
    def __init__(self, artifact_root: Path, concurrency: int, env: dict[str, str]) -> None:
        db = connections["default"].settings_dict
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "ARTIFACT_ROOT": str(artifact_root),
            "TRAINING_STALE_AFTER_SECONDS": str(STALE_SECONDS),
            "TRAINING_HEARTBEAT_SECONDS": "1",
            "LOG_LEVEL": "WARNING",
            **env,
        }
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "training,celery",
                "-c", str(concurrency), "-I", "tests.training.scripted_trainer",
                "--without-gossip", "--without-mingle", "-n", f"test-{os.getpid()}@%h",
            ],  # fmt: skip
            cwd=ROOT, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            self._wait_ready()
        except BaseException:
            self.kill()  # a worker that never got ready must not outlive the test
            raise

    def _wait_ready(self, timeout: float = 30) -> None:
        from config.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("The Celery worker exited at start-up.")
            if app.control.ping(timeout=0.5):
                return
        raise RuntimeError("The Celery worker did not answer a ping in time.")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children, as a machine failure would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def start_worker(artifact_root, transactional_db, settings):
    settings.TRAINING_STALE_AFTER_SECONDS = STALE_SECONDS  # the test process agrees with the worker
    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # no messages left from earlier tests
    workers: list[WorkerProcess] = []

    def start(concurrency: int = 1, **env: str) -> WorkerProcess:
        """A worker process; `env` adds environment variables (settings) for it."""
        worker = WorkerProcess(artifact_root, concurrency, env)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
