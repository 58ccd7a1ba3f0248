from django.core.management.base import BaseCommand, CommandError

from customers.services import customers_pseudonymise
from tenants.audit import acting_as
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Store a tenant's customer ids and emails as keyed hashes from now on, converting the "
        "rows already stored. One way: the original ids and emails are not kept anywhere. "
        "Email campaigns stop being possible for the tenant (webhook campaigns still work)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args, slug: str, yes: bool, **options) -> None:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}.")
        if tenant.pseudonymise_customers:
            self.stdout.write(f"Tenant {slug} already pseudonymises its customers.")
            return
        if not yes and input(f"Pseudonymise every customer of {slug}? [y/N] ").lower() != "y":
            raise CommandError("Cancelled.")
        with acting_as("manage.py pseudonymise_tenant"):
            converted = customers_pseudonymise(tenant=tenant)
        self.stdout.write(f"Tenant {slug}: {converted} customers pseudonymised.")
