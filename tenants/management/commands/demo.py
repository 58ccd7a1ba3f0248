"""`make demo`: a working product on the embedded default in one command.

Migrates, creates the `demo` tenant with an admin user and an API key (printed),
loads generated data, trains every registered model kind, then serves the site
on http://127.0.0.1:8000 (unless --no-serve). Safe to run again.
"""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from tenants.models import Membership, Tenant
from tenants.services import api_key_create, membership_set, tenant_create

DEMO_SLUG = "demo"


class Command(BaseCommand):
    help = "Set up the demo tenant with data and models, then serve the site."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--no-serve", action="store_true", help="Do everything but serve.")
        parser.add_argument("--customers", type=int, default=2000)
        parser.add_argument("--products", type=int, default=400)
        parser.add_argument("--days", type=int, default=180)
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, *args, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first() or tenant_create(
            slug=DEMO_SLUG, name="Demo Shop"
        )
        username, password = self._admin_user(tenant)
        call_command(
            "load_demo_data",
            DEMO_SLUG,
            customers=options["customers"],
            products=options["products"],
            days=options["days"],
            seed=42,
            stdout=self.stdout,
        )
        self._train(tenant)
        key = api_key_create(
            tenant=tenant, name=f"demo-{_key_count(tenant) + 1}", scopes="read,write,admin"
        )
        addr = options["addr"]
        self.stdout.write(
            "\nThe demo is ready.\n"
            f"  Admin:   http://{addr}/admin/  user {username!r}, password {password!r}\n"
            f"  API:     http://{addr}/api/v1/docs/\n"
            f"  Try:     curl -H 'Authorization: Bearer {key.raw_key}' "
            f"http://{addr}/api/v1/customers/\n"
            f"  API key (read, write, admin), shown once:\n{key.raw_key}\n"
        )
        if not options["no_serve"]:
            # --insecure serves the admin's and Swagger UI's static files without DEBUG.
            call_command("runserver", addr, use_reloader=False, insecure_serving=True)

    def _admin_user(self, tenant: Tenant) -> tuple[str, str]:
        username = os.environ.get("DEMO_ADMIN_USER", "admin")
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "demo-admin")
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(password)
            user.save()
        membership_set(tenant=tenant, user=user, role=Membership.Role.OWNER)
        return username, password if created else "(unchanged since it was created)"

    def _train(self, tenant: Tenant) -> None:
        from training.registry import registered_kinds
        from training.services import training_run_train_now

        for kind in registered_kinds():
            # A short model search keeps the demo quick; scheduled retrains use the full one.
            run = training_run_train_now(tenant=tenant, kind=kind, parameters={"time_budget": 30})
            self.stdout.write(f"Trained {kind}: {run.status} {run.summary()}")


def _key_count(tenant: Tenant) -> int:
    from tenants.context import tenant_scope
    from tenants.models import ApiKey

    with tenant_scope(tenant):
        return ApiKey.objects.count()
