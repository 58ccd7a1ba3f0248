"""Benchmark: the text classifier through the platform and the API.

    DATABASE_URL=postgres://mip_app@127.0.0.1:5432/mip .venv/bin/python bench/nlp_api.py

A bench tenant gets 50,000 labelled texts (generated reviews, English and Chinese, 4-5
stars positive, 1-2 negative, uploaded with `examples_upsert`; not measured). Measured:

- training: one whole `text` training run on the platform (reading the texts as the
  application role, the cross-validated choice on 80%, the held-out evaluation, the refit
  on all 50,000, storing and activating), against a bare TextClassifier fit on the same
  texts in the same run (the reference);
- classify: `POST /api/v1/nlp/classify/` with 1,000 texts on gunicorn (production
  config), 20 requests one after another, against `GET /api/v1/whoami/` (the trivial
  endpoint) in the same run.

Bars: training on 50,000 labelled texts under 60 s; classify of 1,000 texts under 500 ms.
"""

from __future__ import annotations

import http.client
import json
import statistics
import time

from common import delete_tenants, gunicorn_server, machine

from nlp.ml import synthetic
from nlp.ml.classifier import TextClassifier
from nlp.services import examples_upsert
from tenants.services import api_key_create, tenant_create
from training import services

SLUG, PORT = "bench-nlp-", 8765


def labelled(n: int, seed: int) -> list[dict]:
    rows = []
    for language in ("en", "zh"):
        for text, rating in synthetic.reviews(n, language=language, seed=seed):
            if rating != 3:
                rows.append({"text": text, "label": "positive" if rating >= 4 else "negative",
                             "task": "sentiment"})  # fmt: skip
    return rows


def timed_requests(method: str, path: str, key: str, body: bytes | None, n: int) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    times = []
    for _ in range(n):
        began = time.perf_counter()
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        times.append(time.perf_counter() - began)
        assert response.status == 200, payload[:300]
    return times


def main() -> None:
    delete_tenants(SLUG)
    tenant = tenant_create(slug=f"{SLUG}{int(time.time())}", name="Bench nlp")
    try:
        rows = labelled(32_000, seed=1)[:50_000]
        examples_upsert(tenant=tenant, rows=rows[:10_000])
        for start in range(10_000, len(rows), 10_000):
            examples_upsert(tenant=tenant, rows=rows[start : start + 10_000])
        texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]

        began = time.perf_counter()
        TextClassifier(random_state=0).fit(texts, labels)
        bare = time.perf_counter() - began

        began = time.perf_counter()
        run = services.training_run_train_now(tenant=tenant, kind="text")
        whole = time.perf_counter() - began
        assert run.status == "succeeded", run.error
        report = run.metrics["details"]["tasks"]["sentiment"]

        key = api_key_create(tenant=tenant, name="bench", scopes=["read"]).raw_key
        batch = [text for text, _ in synthetic.reviews(1000, language="mixed", seed=7)]
        body = json.dumps({"task": "sentiment", "texts": batch}).encode()
        with gunicorn_server(PORT, workers=1):
            timed_requests("POST", "/api/v1/nlp/classify/", key, body, 3)  # loads the model
            classify = timed_requests("POST", "/api/v1/nlp/classify/", key, body, 20)
            whoami = timed_requests("GET", "/api/v1/whoami/", key, None, 20)

        print(f"machine: {machine()}")
        print(f"labelled texts: {len(texts):,} (mean {statistics.mean(map(len, texts)):.0f} chars)")
        print("| measurement | result | reference | bar |\n|---|---:|---:|---:|")
        print(f"| whole `text` training run, 50,000 texts | {whole:.1f} s | bare fit "
              f"{bare:.1f} s | < 60 s |")  # fmt: skip
        print(f"| held-out accuracy / macro-F1 | {report['accuracy']:.3f} / "
              f"{report['macro_f1']:.3f} | majority {report['majority_accuracy']:.3f} | |")  # fmt: skip
        print(f"| classify 1,000 texts, median of 20 | {1000 * statistics.median(classify):.0f} ms "
              f"(max {1000 * max(classify):.0f}) | whoami {1000 * statistics.median(whoami):.1f} "
              "ms | < 500 ms |")  # fmt: skip
        print(f"stages: {run.metrics.get('stage_seconds')}")
    finally:
        delete_tenants(SLUG)


if __name__ == "__main__":
    main()
