"""Load a generated dataset into an existing tenant through the bulk ingest services.

The rows go through exactly the path API clients use (validation, upserts, duplicate
events counted), in chunks of CHUNK rows. Running it again with the same options
stores nothing new: customers and products are upserted, events are deduplicated.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from customers.ingest.bulk import (
    BulkResult,
    chunks,
    customer_upsert_bulk,
    interaction_ingest_bulk,
    product_upsert_bulk,
)
from customers.management.commands.generate_data import (
    add_dataset_arguments,
    config_from_options,
)
from customers.models import Customer, Interaction, Product
from customers.synthetic import SyntheticConfig, SyntheticDataset
from tenants.context import tenant_scope
from tenants.models import Tenant

CHUNK = 5_000


class Command(BaseCommand):
    help = "Generate a synthetic dataset and load it into an existing tenant."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        add_dataset_arguments(parser, customers=2000, products=500)

    def handle(self, *args, slug: str, **options) -> None:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}; create it with create_tenant first.")
        config = config_from_options(options, start=self._default_start(options))
        if config.end > timezone.now() + timedelta(days=1):
            raise CommandError(
                f"The data would run until {config.end:%Y-%m-%d}, in the future, and events "
                "there are rejected: choose an earlier --start or fewer --days."
            )
        dataset = SyntheticDataset(config)
        quiet = options.get("verbosity", 1) == 0
        began = time.perf_counter()
        results: dict[str, BulkResult] = {}
        with tqdm(total=config.n_customers, desc="customers", unit="row", disable=quiet) as bar:
            results["customers"] = _load(
                chunks(dataset.customers(), CHUNK), customer_upsert_bulk, tenant, bar.update
            )
        with tqdm(total=config.n_products, desc="products", unit="row", disable=quiet) as bar:
            results["products"] = _load(
                chunks(dataset.products(), CHUNK), product_upsert_bulk, tenant, bar.update
            )
        with tqdm(
            total=config.n_customers, desc="interactions", unit="customer", disable=quiet
        ) as bar:
            results["interactions"] = _load(
                _interaction_chunks(dataset, bar), interaction_ingest_bulk, tenant, None
            )
        elapsed = time.perf_counter() - began
        with tenant_scope(tenant):
            stored = {
                "customers": Customer.objects.count(),
                "products": Product.objects.count(),
                "interactions": Interaction.objects.count(),
            }
        for what, result in results.items():
            self.stdout.write(
                f"{what}: {result.created:,} created, {result.updated:,} updated, "
                f"{result.duplicates:,} already present, {len(result.rejected):,} rejected"
            )
            for rejection in result.rejected[:3]:
                self.stderr.write(f"  rejected {what} row: {rejection}")
        self.stdout.write(
            f"Loaded {config.start:%Y-%m-%d} + {config.n_days} days into {slug} in "
            f"{elapsed:.1f}s. Tenant {slug} now has {stored['customers']:,} customers, "
            f"{stored['products']:,} products and {stored['interactions']:,} interactions."
        )

    def _default_start(self, options: dict) -> datetime | None:
        """The fixed default start, unless that window would reach past today: then the
        window ends today, so a long demo still loads (and looks recent)."""
        if options.get("start") is not None:
            return None
        start = SyntheticConfig.start
        if start + timedelta(days=options["days"]) <= timezone.now():
            return None
        today = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=options["days"])
        self.stdout.write(f"The default window would reach the future; starting {start:%Y-%m-%d}.")
        return start


def _interaction_chunks(dataset: SyntheticDataset, bar: tqdm) -> Iterator[list[dict]]:
    buffer: list[dict] = []
    for n_customers, rows in dataset.interaction_batches():
        buffer.extend(rows)
        while len(buffer) >= CHUNK:
            yield buffer[:CHUNK]
            del buffer[:CHUNK]
        bar.update(n_customers)
    if buffer:
        yield buffer


def _load(
    chunks: Iterable[list[dict]],
    service: Callable[..., BulkResult],
    tenant: Tenant,
    tick: Callable[[int], object] | None,
) -> BulkResult:
    total = BulkResult()
    offset = 0
    for chunk in chunks:
        total.merge(service(tenant=tenant, rows=chunk), index_offset=offset)
        offset += len(chunk)
        if tick:
            tick(len(chunk))
    return total
