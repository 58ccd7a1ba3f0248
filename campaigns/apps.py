from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"

    def ready(self) -> None:
        from customers.erasure import ERASURE_HOOKS

        ERASURE_HOOKS.append(_forget_recipient)


def _forget_recipient(tenant, customer) -> dict[str, int]:
    """An erased customer is sent nothing more; their recipient rows stay (detached by
    the foreign key) so every campaign keeps its counts."""
    from campaigns.models import Recipient

    rows = Recipient.objects.filter(tenant=tenant, customer=customer)
    rows.filter(status=Recipient.Status.PENDING).update(
        status=Recipient.Status.EXCLUDED, excluded_reason="customer erased"
    )
    return {"campaign_recipients_detached": rows.count()}
