"""Stopping and starting this machine's real PostgreSQL and Redis (loopback only), and a
gunicorn serving the test database, for the outage tests.

These tests take the servers away from everything else on the machine for a few seconds,
so they run only when asked (ALLOW_SERVER_RESTARTS=1, as .ci/run does), in their own pytest
process after the rest of the suite (`make test`). The start commands are the ones this
machine kind uses (and .ci/run uses when a server is down).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.db import connections

from tests.training.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
PORT = 8765

needs_server_restarts = pytest.mark.skipif(
    not (
        os.environ.get("ALLOW_SERVER_RESTARTS") == "1"
        and os.environ.get("REDIS_URL")
        and connections["default"].vendor == "postgresql"
    ),
    reason="stops the machine's PostgreSQL and Redis: set ALLOW_SERVER_RESTARTS=1 with "
    "DATABASE_URL and REDIS_URL (.ci/run does)",
)


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=60)


# --- PostgreSQL ----------------------------------------------------------------------------


def _cluster() -> str:
    return sorted(os.listdir("/etc/postgresql"))[-1]


def postgres_ready() -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"]).returncode == 0


def postgres_stop() -> None:
    # fast: every session is disconnected at once, open transactions roll back
    _run(["pg_ctlcluster", "--skip-systemctl-redirect", _cluster(), "main", "stop", "-m", "fast"])
    wait_for(lambda: not postgres_ready(), timeout=30, what="PostgreSQL stopped")


def postgres_start() -> None:
    if not postgres_ready():
        _run(["pg_ctlcluster", "--skip-systemctl-redirect", _cluster(), "main", "start"])
    wait_for(postgres_ready, timeout=30, what="PostgreSQL accepting connections")
    connections.close_all()  # the test process's own connections died with the server


# --- Redis ---------------------------------------------------------------------------------


def _redis_address() -> tuple[str, int]:
    url = urlparse(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    return url.hostname or "127.0.0.1", url.port or 6379


def redis_ready() -> bool:
    host, port = _redis_address()
    ping = subprocess.run(["redis-cli", "-h", host, "-p", str(port), "ping"],
                          capture_output=True, text=True)  # fmt: skip
    return ping.stdout.strip() == "PONG"


def redis_stop() -> None:
    host, port = _redis_address()
    subprocess.run(["redis-cli", "-h", host, "-p", str(port), "shutdown", "nosave"],
                   capture_output=True)  # fmt: skip
    wait_for(lambda: not redis_ready(), timeout=30, what="Redis stopped")


def redis_start() -> None:
    if not redis_ready():
        _, port = _redis_address()
        _run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1",
              "--port", str(port), "--save", "", "--appendonly", "no",
              "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log"])  # fmt: skip
    wait_for(redis_ready, timeout=30, what="Redis answering")


# --- the web process -----------------------------------------------------------------------


@contextlib.contextmanager
def web_server(artifact_root: Path) -> Iterator[None]:
    """gunicorn with the production settings on the test database, as the application role."""
    db = connections["default"].settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "ARTIFACT_ROOT": str(artifact_root),
        "DB_CONNECT_TIMEOUT": "2",
        "LOG_LEVEL": "ERROR",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-c", "config/gunicorn.py",
         "-b", f"127.0.0.1:{PORT}", "-w", "1", "--threads", "4", "--log-level", "error"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    client = Client()
    try:
        wait_for(lambda: client.ready(), timeout=60, what="gunicorn answering")
        yield
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


class Client:
    """A tiny HTTP client: a fresh connection per request, a timeout, the elapsed time."""

    def __init__(self, key: str = "", port: int = PORT) -> None:
        self.key = key
        self.port = port

    def ready(self) -> bool:
        try:
            return self.request("GET", "/readyz")[0] == 200
        except OSError:
            return False

    def request(self, method: str, path: str, body: object = None,
                timeout: float = 30) -> tuple[int, dict, float, dict]:  # fmt: skip
        """(status, JSON body, seconds, headers)."""
        began = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        try:
            connection.request(method, path, None if body is None else json.dumps(body), headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {"raw": raw[:200].decode(errors="replace")}
        return response.status, parsed, time.monotonic() - began, dict(response.getheaders())
