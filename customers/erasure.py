"""GDPR erasure and export of one customer (services and a selector of the customers app).

Erasure removes the customer and everything that names them (interactions, reviews,
predictions, segment assignments: cascading deletes), detaches their campaign recipient
rows so campaign counts stay, lets other apps drop what they derived (ERASURE_HOOKS:
review sentiment, pending sends), marks every model version trained on their data for
retraining (the next scheduled run replaces it), and keeps an ErasureRecord that says
what and when and by whom, never who. Export returns everything held about a customer.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import Min

from customers.models import Customer, CustomerPrediction, ErasureRecord, Interaction
from tenants.audit import audit
from tenants.context import tenant_scope
from tenants.models import Tenant

# Apps register `hook(tenant, customer) -> {kind: rows}`; called inside the erasure's
# transaction before the customer row goes, so they still see what the customer owned.
ERASURE_HOOKS: list[Callable[[Tenant, Customer], dict[str, int]]] = []


def customer_erase(*, tenant: Tenant, customer: Customer, erased_by: str) -> ErasureRecord:
    """Erase `customer` (see the module doc). One transaction."""
    from training.models import ModelVersion

    with tenant_scope(tenant):
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        interactions = Interaction.objects.filter(tenant=tenant, customer=customer)
        first = interactions.aggregate(first=Min("id"))["first"]
        removed = {
            "interactions": interactions.count(),
            "predictions": CustomerPrediction.objects.filter(tenant=tenant, customer=customer).count(),
        }  # fmt: skip
        for hook in ERASURE_HOOKS:
            removed.update(hook(tenant, customer))
        marked: list[int] = []
        if first is not None:
            # Versions whose data reached this customer's first interaction learnt from them.
            versions = ModelVersion.objects.filter(
                tenant=tenant, watermark_interaction_id__gte=first
            )
            marked = list(versions.values_list("pk", flat=True))
            versions.update(retrain_required=True)
        customer.delete()
        record = ErasureRecord.objects.create(
            tenant=tenant, erased_by=erased_by[:200], removed=removed, versions_marked=marked
        )
        audit(tenant=tenant, action="customer erased", object_type="ErasureRecord",
              object_ref=record.pk)  # fmt: skip
        return record


def customer_export(*, tenant: Tenant, customer: Customer) -> dict:
    """Everything held about the customer, as JSON-ready data: profile, interactions, model
    outputs, the consent log, campaigns and review sentiment."""
    audit(tenant=tenant, action="customer exported", object_type="Customer",
          object_ref=customer.external_id)  # fmt: skip
    with tenant_scope(tenant):
        interactions = list(
            Interaction.objects.filter(tenant=tenant, customer=customer)
            .order_by("occurred_at", "id")
            .values(
                "event_id",
                "product__external_id",
                "kind",
                "value",
                "text",
                "occurred_at",
                "received_at",
            )  # fmt: skip
        )
        predictions = list(
            CustomerPrediction.objects.filter(tenant=tenant, customer=customer).values(
                "version__kind", "version__version", "segment", "score"
            )
        )
        receipts = list(
            customer.campaign_receipts.filter(tenant=tenant).values(
                "campaign__name", "group", "variant", "status", "excluded_reason", "sent_at"
            )
        )
        consent = list(
            customer.consent_events.filter(tenant=tenant)
            .order_by("occurred_at", "id")
            .values("channel", "granted", "source", "occurred_at")
        )
        sentiments = list(
            customer.sentiment_summaries.filter(tenant=tenant).values(
                "version__version", "reviews", "positive_share", "mean_positive"
            )
        )
    return {
        "customer": {
            "external_id": customer.external_id, "email": customer.email,
            "email_opt_in": customer.email_opt_in, "attributes": customer.attributes,
            "created_at": customer.created_at, "updated_at": customer.updated_at,
        },
        "interactions": [
            {**row, "product": row.pop("product__external_id")} for row in interactions
        ],
        "model_outputs": [
            {"kind": p["version__kind"], "version": p["version__version"],
             "segment": p["segment"], "score": p["score"]} for p in predictions
        ],
        "consent_log": consent,
        "campaigns": [{**r, "campaign": r.pop("campaign__name")} for r in receipts],
        "review_sentiment": [{**s, "version": s.pop("version__version")} for s in sentiments],
    }  # fmt: skip
