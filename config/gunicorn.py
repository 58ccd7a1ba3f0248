"""gunicorn settings for the web process (`make web`, and the HTTP benchmarks).

Threaded workers: a sync worker blocks on an idle keep-alive connection until the
client sends its next request, so a few slow or pausing clients stall the whole server
when no buffering proxy sits in front. Each process keeps its own loaded models.
"""

import os

bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", "3"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "2"))
keepalive = 5
# One BLAS thread per process: scoring one customer is a small product, and threaded BLAS
# on busy shared cores costs more in hand-offs than it saves.
raw_env = ["OPENBLAS_NUM_THREADS=1", "OMP_NUM_THREADS=1"]
