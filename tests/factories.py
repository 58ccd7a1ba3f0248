"""Factories for every model; tenant-owned rows are created inside their tenant's scope.

The cross-tenant suite finds the factory for a viewset's model here (FACTORIES), so a
new tenant-owned model needs a factory before its routes can pass that suite.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import factory
from django.contrib.auth import get_user_model

from campaigns.models import Campaign, Recipient, Segment
from customers.models import (
    ConsentEvent,
    Customer,
    CustomerPrediction,
    ErasureRecord,
    Interaction,
    Product,
)
from nlp.models import LabelledExample, ReviewSentiment, SentimentSummary
from nlp.services import example_key
from tenants.context import tenant_scope
from tenants.models import AuditEvent, Tenant
from tenants.services import api_key_create
from training.models import ActiveModel, ModelVersion, RetrainPolicy, TrainingRun


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class TenantOwnedFactory(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    tenant = factory.SubFactory(TenantFactory)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        with tenant_scope(kwargs["tenant"]):
            return super()._create(model_class, *args, **kwargs)


class CustomerFactory(TenantOwnedFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"cust-{n}")
    email = factory.LazyAttribute(lambda o: f"{o.external_id}@example.com")
    email_opt_in = True


class ProductFactory(TenantOwnedFactory):
    class Meta:
        model = Product

    external_id = factory.Sequence(lambda n: f"prod-{n}")
    title = factory.Sequence(lambda n: f"Product {n}")
    category = "shoes"
    price = "19.99"


class InteractionFactory(TenantOwnedFactory):
    class Meta:
        model = Interaction

    event_id = factory.Sequence(lambda n: f"evt-{n}")
    customer = factory.SubFactory(CustomerFactory, tenant=factory.SelfAttribute("..tenant"))
    product = factory.SubFactory(ProductFactory, tenant=factory.SelfAttribute("..tenant"))
    kind = "purchase"
    value = 25.0
    occurred_at = factory.LazyFunction(lambda: datetime(2026, 1, 15, 12, tzinfo=UTC))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.django.Password("pw-for-tests-1")


class TrainingRunFactory(TenantOwnedFactory):
    class Meta:
        model = TrainingRun

    kind = "popularity"
    status = TrainingRun.Status.SUCCEEDED
    progress = 100


class ModelVersionFactory(TenantOwnedFactory):
    class Meta:
        model = ModelVersion

    kind = "popularity"
    version = factory.Sequence(lambda n: n + 1)
    status = ModelVersion.Status.RETIRED
    primary_metric = "ndcg@10"
    metrics = factory.LazyFunction(lambda: {"ndcg@10": 0.2})
    artifact_path = "/nonexistent"
    artifact_sha256 = "0" * 64
    library_versions = factory.LazyFunction(dict)
    watermark = factory.LazyFunction(dict)


class ActiveModelFactory(TenantOwnedFactory):
    class Meta:
        model = ActiveModel

    kind = "popularity"
    version = factory.SubFactory(ModelVersionFactory, tenant=factory.SelfAttribute("..tenant"))


class RetrainPolicyFactory(TenantOwnedFactory):
    """Every tenant's policy of a kind has the same address (the kind)."""

    class Meta:
        model = RetrainPolicy
        django_get_or_create = ("tenant", "kind")

    kind = "popularity"
    cadence_hours = 12


class CustomerPredictionFactory(TenantOwnedFactory):
    class Meta:
        model = CustomerPrediction

    version = factory.SubFactory(
        ModelVersionFactory, tenant=factory.SelfAttribute("..tenant"), kind="segmentation"
    )
    customer = factory.SubFactory(CustomerFactory, tenant=factory.SelfAttribute("..tenant"))
    segment = 1
    score = 0.5


class SegmentFactory(TenantOwnedFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"segment-{n}")
    description = "Opted-in customers"
    filter = factory.LazyFunction(lambda: {"field": "email_opt_in", "op": "eq", "value": True})


class CampaignFactory(TenantOwnedFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"campaign-{n}")
    segment = factory.SubFactory(SegmentFactory, tenant=factory.SelfAttribute("..tenant"))
    variants = factory.LazyFunction(
        lambda: [{"name": "a", "subject": "Hello {{ customer.external_id }}", "body": "Hi"}]
    )


class RecipientFactory(TenantOwnedFactory):
    class Meta:
        model = Recipient

    campaign = factory.SubFactory(CampaignFactory, tenant=factory.SelfAttribute("..tenant"))
    customer = factory.SubFactory(CustomerFactory, tenant=factory.SelfAttribute("..tenant"))
    group = Recipient.Group.TREATMENT


class LabelledExampleFactory(TenantOwnedFactory):
    class Meta:
        model = LabelledExample

    task = "topic"
    text = factory.Sequence(lambda n: f"The parcel arrived late, number {n}")
    key = factory.LazyAttribute(lambda o: example_key(o.task, o.text))
    label = "delivery"


class ReviewSentimentFactory(TenantOwnedFactory):
    class Meta:
        model = ReviewSentiment

    version = factory.SubFactory(ModelVersionFactory, tenant=factory.SelfAttribute("..tenant"),
                                 kind="text")  # fmt: skip
    interaction = factory.SubFactory(
        InteractionFactory, tenant=factory.SelfAttribute("..tenant"), kind="review",
        text="Great", value=5.0,
    )  # fmt: skip
    label = "positive"
    positive = 0.9


class SentimentSummaryFactory(TenantOwnedFactory):
    class Meta:
        model = SentimentSummary

    version = factory.SubFactory(ModelVersionFactory, tenant=factory.SelfAttribute("..tenant"),
                                 kind="text")  # fmt: skip
    customer = factory.SubFactory(CustomerFactory, tenant=factory.SelfAttribute("..tenant"))
    reviews = 1
    positive_share = 1.0
    mean_positive = 0.9


class ErasureRecordFactory(TenantOwnedFactory):
    class Meta:
        model = ErasureRecord

    erased_by = "user:dpo"
    removed = factory.LazyFunction(lambda: {"interactions": 3})


class ConsentEventFactory(TenantOwnedFactory):
    class Meta:
        model = ConsentEvent

    customer = factory.SubFactory(CustomerFactory, tenant=factory.SelfAttribute("..tenant"))
    granted = True
    source = "api"


class AuditEventFactory(TenantOwnedFactory):
    class Meta:
        model = AuditEvent

    actor = "user:someone"
    action = "create"
    object_type = "Customer"
    object_ref = factory.Sequence(lambda n: f"c-{n}")


_key_numbers = itertools.count(1)

FACTORIES = {
    Campaign: CampaignFactory,
    Recipient: RecipientFactory,
    Customer: CustomerFactory,
    Product: ProductFactory,
    Interaction: InteractionFactory,
    TrainingRun: TrainingRunFactory,
    ModelVersion: ModelVersionFactory,
    RetrainPolicy: RetrainPolicyFactory,
    ActiveModel: ActiveModelFactory,
    CustomerPrediction: CustomerPredictionFactory,
    Segment: SegmentFactory,
    LabelledExample: LabelledExampleFactory,
    ReviewSentiment: ReviewSentimentFactory,
    SentimentSummary: SentimentSummaryFactory,
    ErasureRecord: ErasureRecordFactory,
    ConsentEvent: ConsentEventFactory,
    AuditEvent: AuditEventFactory,
}


def api_key_for(tenant: Tenant, scopes: list[str] | None = None) -> str:
    created = api_key_create(
        tenant=tenant, name=f"key-{next(_key_numbers)}", scopes=scopes or ["read"]
    )
    return created.raw_key


def member_of(tenant: Tenant, role: str = "analyst", **user_fields):
    """A staff user holding `role` (owner, analyst, viewer) in `tenant`."""
    from tenants.services import membership_set

    user = UserFactory(**user_fields)
    membership_set(tenant=tenant, user=user, role=role)
    return user
