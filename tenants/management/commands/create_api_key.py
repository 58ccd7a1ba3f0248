from django.core.management.base import BaseCommand, CommandError

from tenants.models import Tenant
from tenants.services import InvalidScopes, api_key_create


class Command(BaseCommand):
    help = "Create an API key for a tenant. The key is printed once, alone on the last line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--scopes", default="read", help="Comma-separated: read,write,admin")

    def handle(self, *args, slug: str, name: str, scopes: str, **options) -> None:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}.")
        try:
            created = api_key_create(tenant=tenant, name=name, scopes=scopes)
        except InvalidScopes as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"API key {name!r} for {slug} with scopes {','.join(created.api_key.scopes)}; "
            "store it now, it is not shown again:"
        )
        self.stdout.write(created.raw_key)
