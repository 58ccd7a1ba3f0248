"""Benchmark: a campaign to 100,000 recipients with 10 personalised recommendations each.

    DATABASE_URL=postgres://mip_app@127.0.0.1:5432/mip REDIS_URL=redis://127.0.0.1:6379/14 \
        .venv/bin/python bench/campaign_send.py

A bench tenant gets the demo generator's shop (customers.synthetic: planted tastes,
real product text) with 100,000 customers, all with an address and consent, and 5,000
products over 15 days, copied in as the superuser outside anything measured; a
recommender is trained (ALS only, to keep the set-up short; not measured). Then, measured:
from `campaign_launch` (freezing 100,000 recipients, 10% held out) until the campaign is
`sent`, with one real Celery worker process (`-c 1`) writing every email through Django's
file backend: claims of 500, ten recommendations per customer computed per batch, the
template rendered, each outcome recorded as it happens.

The worker's memory (RSS of its pool process) is sampled as the sends progress: it should
not grow with the number of recipients. Reference in the same run: Django's file backend
alone writing the same number of pre-rendered messages (no database, no rendering).
Bar: launch to sent under 120 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from common import ROOT, SUPER_URL, delete_tenants, load_synthetic_dataset, machine

from campaigns import services
from campaigns.models import Campaign, Recipient, Segment
from customers.synthetic import SyntheticConfig, SyntheticDataset
from tenants.context import tenant_scope
from tenants.services import tenant_create
from training import services as training

SLUG = "bench-campaign-"
BODY = """Hello {{ customer.external_id }},

Picked for you this week:
{% for p in recommendations %}{{ forloop.counter }}. {{ p.title }} ({{ p.category }}){% if p.price %} - {{ p.price }}{% endif %}
{% endfor %}
See you soon.
Unsubscribe: {{ unsubscribe_url }}
"""  # noqa: E501


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pool_process(worker_pid: int) -> int:
    """The prefork pool's child (the process that runs the task)."""
    children = Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()
    return int(children[0]) if children else worker_pid


def bare_file_backend(count: int, directory: str) -> float:
    from django.core.mail import EmailMessage, get_connection

    connection = get_connection("django.core.mail.backends.filebased.EmailBackend",
                                file_path=directory)  # fmt: skip
    body = BODY.replace("{{", "").replace("}}", "") * 1
    messages = [
        EmailMessage(f"Hello c{i}", body, "shop@example.com", [f"c{i}@example.com"],
                     headers={"Message-ID": f"<m{i}@example.com>"}, connection=connection)
        for i in range(count)
    ]  # fmt: skip
    began = time.perf_counter()
    connection.send_messages(messages)
    return time.perf_counter() - began


def count_status(tenant, campaign_id: int) -> tuple[str, int]:
    with tenant_scope(tenant):
        status = Campaign.objects.values_list("status", flat=True).get(pk=campaign_id)
        sent = Recipient.objects.filter(campaign_id=campaign_id, status="sent").count()
    return status, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=15)
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("Set REDIS_URL: the campaign is sent by a real Celery worker.")
    delete_tenants(SLUG)
    tenant = tenant_create(slug=f"{SLUG}{int(time.time())}", name="Bench campaign")
    mail_dir = Path(tempfile.mkdtemp(prefix="bench-mail-"))
    worker = None
    try:
        began = time.perf_counter()
        config = SyntheticConfig(n_customers=args.customers, n_products=args.products,
                                 n_days=args.days, seed=2)  # fmt: skip
        interactions = load_synthetic_dataset(tenant.pk, SyntheticDataset(config))
        with psycopg.connect(SUPER_URL) as conn:
            conn.execute(
                "UPDATE customers_customer SET email = external_id || '@example.com', "
                "email_opt_in = true WHERE tenant_id = %s", [tenant.pk],
            )  # fmt: skip
        run = training.training_run_train_now(
            tenant=tenant, kind="recommender", parameters={"families": ["als"], "time_budget": 30}
        )
        assert run.status == "succeeded", run.error
        print(f"set-up (not measured): {time.perf_counter() - began:.0f} s; "
              f"{interactions:,} interactions; recommender {run.metrics['details']['winner']}")  # fmt: skip

        with tempfile.TemporaryDirectory() as bare_dir:
            reference = bare_file_backend(int(args.customers * 0.9), bare_dir)

        with tenant_scope(tenant):
            segment = Segment.objects.create(
                tenant=tenant, name="everyone",
                filter={"field": "email_opt_in", "op": "eq", "value": True},
            )  # fmt: skip
            campaign = Campaign.objects.create(
                tenant=tenant, name="weekly picks", segment=segment, recommendations=10,
                holdout_share=0.1,
                variants=[{"name": "a", "subject": "Your picks, {{ customer.external_id }}",
                           "body": BODY}],
            )  # fmt: skip
        env = {**os.environ, "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
               "EMAIL_FILE_PATH": str(mail_dir), "LOG_LEVEL": "WARNING"}  # fmt: skip
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-c", "1",
             "--without-gossip", "--without-mingle", "-n", f"bench-{os.getpid()}@%h"],
            cwd=ROOT, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        from config.celery import app

        while not app.control.ping(timeout=0.5):
            time.sleep(0.5)
        pool = pool_process(worker.pid)
        idle_rss = rss_kib(pool)

        began = time.perf_counter()
        launched = services.campaign_launch(tenant=tenant, campaign=campaign)
        launch_seconds = time.perf_counter() - began
        samples = []
        while True:
            status, sent = count_status(tenant, campaign.pk)
            samples.append((time.perf_counter() - began, sent, rss_kib(pool)))
            if status != Campaign.Status.SENDING:
                break
            time.sleep(2)
        total = time.perf_counter() - began
        written = sum(path.read_bytes().count(b"\nMessage-ID: ") for path in mail_dir.glob("*"))

        print(f"machine: {machine()}")
        print(f"recipients: {launched['recipients']:,} (treatment {launched.get('pending', 0):,}, "
              f"held out {launched.get('held_out', 0):,}); status {status}; "
              f"sent {sent:,}; messages in files {written:,}")  # fmt: skip
        print(f"launch (freeze + assign): {launch_seconds:.1f} s")
        print(f"launch to sent: {total:.1f} s (bar < 120 s); {sent / total:,.0f} messages/s")
        print(f"reference, bare file backend writing {int(args.customers * 0.9):,} messages: "
              f"{reference:.1f} s")  # fmt: skip
        print(f"worker pool RSS: idle {idle_rss / 1024:.0f} MiB")
        for share in (0.1, 0.25, 0.5, 0.75, 1.0):
            at = next((s for s in samples if s[1] >= share * sent), samples[-1])
            print(f"  at {at[1]:>7,} sent ({at[0]:5.1f} s): {at[2] / 1024:.0f} MiB")
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
        subprocess.run(["rm", "-rf", str(mail_dir)], check=False)
        delete_tenants(SLUG)


if __name__ == "__main__":
    main()
