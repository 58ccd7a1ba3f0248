"""`make demo`: a working product on the embedded default in one command.

Migrates, creates the `demo` tenant with an admin user and an API key (printed),
loads generated data, trains every registered model kind, then serves the site
launches a weekly campaign to opted-in buyers (emails written to var/mail), then serves
the site on http://127.0.0.1:8000 (unless --no-serve). Safe to run again.
"""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from tenants.models import Membership, Tenant
from tenants.services import api_key_create, membership_set, tenant_create

DEMO_SLUG = "demo"
DEMO_SEGMENT, DEMO_CAMPAIGN = "Opted-in buyers", "Weekly picks"
DEMO_BODY = """Hello {{ customer.external_id }},

Five picks for you this week:
{% for p in recommendations %}- {{ p.title }}{% if p.price %} ({{ p.price }}){% endif %}
{% endfor %}
Unsubscribe: {{ unsubscribe_url }}
"""


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
        self._campaign(tenant)
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

        # Embeddings feed the recommender's candidates, and review sentiment the segments.
        first = ["embeddings", "text"]
        for kind in sorted(
            registered_kinds(),
            key=lambda k: (k not in first, first.index(k) if k in first else 0, k),
        ):
            # A short model search keeps the demo quick; scheduled retrains use the full one.
            run = training_run_train_now(tenant=tenant, kind=kind, parameters={"time_budget": 30})
            self.stdout.write(f"Trained {kind}: {run.status} {run.summary()}")

    def _campaign(self, tenant: Tenant) -> None:
        """A segment and a weekly campaign with five picks per customer, sent at once (eager
        tasks) to the file email backend."""
        from django.conf import settings

        from campaigns import services
        from campaigns.models import Campaign, Segment
        from tenants.context import tenant_scope

        with tenant_scope(tenant):
            if Campaign.objects.filter(name=DEMO_CAMPAIGN).exists():
                return
            segment = Segment.objects.filter(name=DEMO_SEGMENT).first() or services.segment_create(
                tenant=tenant,
                data={"name": DEMO_SEGMENT, "filter": {"and": [
                    {"field": "email_opt_in", "op": "eq", "value": True},
                    {"field": "frequency", "op": "gte", "value": 1}]}},
            )  # fmt: skip
            campaign = services.campaign_create(tenant=tenant, data={
                "name": DEMO_CAMPAIGN, "segment": segment, "recommendations": 5,
                "variants": [{"name": "a", "subject": "Picked for you", "body": DEMO_BODY}],
            })  # fmt: skip
        result = services.campaign_launch(tenant=tenant, campaign=campaign)
        self.stdout.write(
            f"Campaign {DEMO_CAMPAIGN!r}: {result['recipients']} recipients, "
            f"{result.get('held_out', 0)} held out; emails in {settings.EMAIL_FILE_PATH}/"
        )


def _key_count(tenant: Tenant) -> int:
    from tenants.context import tenant_scope
    from tenants.models import ApiKey

    with tenant_scope(tenant):
        return ApiKey.objects.count()
