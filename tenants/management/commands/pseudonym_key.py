from django.core.management.base import BaseCommand, CommandError

from tenants.models import Tenant
from tenants.pseudonyms import PREFIX, tenant_key


class Command(BaseCommand):
    help = (
        "Print a pseudonymising tenant's key, for the brand's own systems: a customer id X is "
        f"stored as '{PREFIX}' + hex(HMAC-SHA256(key, 'id:' + X)), an email E as "
        f"'{PREFIX}' + hex(HMAC-SHA256(key, 'email:' + lowercase(E))). Treat it as a secret."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")

    def handle(self, *args, slug: str, **options) -> None:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}.")
        if not tenant.pseudonymise_customers:
            raise CommandError(f"Tenant {slug} does not pseudonymise its customers.")
        self.stdout.write(tenant_key(tenant.pk).hex())
