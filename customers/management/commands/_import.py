"""The shared body of the import_interactions, import_customers and import_products commands."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from customers.ingest.files import DEFAULT_CHUNK_SIZE, ImportInputError, import_file
from tenants.models import Tenant


class ImportCommand(BaseCommand):
    """Exits non-zero only when the input is unusable; bad rows go to the rejects file."""

    kind: str = ""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The tenant to import into.")
        parser.add_argument("file", help=".csv, .jsonl or .ndjson, optionally .gz")
        parser.add_argument(
            "--rejects", default=None, help="Where bad rows go (default: FILE.rejects.jsonl)."
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=DEFAULT_CHUNK_SIZE,
            help=f"Rows a transaction (default {DEFAULT_CHUNK_SIZE:,}).",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, slug: str, file: str, **options) -> None:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}.")
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}")
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1.")
        try:
            report = import_file(
                tenant=tenant,
                path=path,
                kind=self.kind,
                rejects_path=options["rejects"],
                chunk_size=options["chunk_size"],
                progress=not options["no_progress"] and options.get("verbosity", 1) > 0,
            )
        except ImportInputError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(report.summary())
