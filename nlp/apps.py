import logging

from django.apps import AppConfig

from tenants.queue import QUEUE_DOWN

logger = logging.getLogger(__name__)


class NlpConfig(AppConfig):
    name = "nlp"
    verbose_name = "Text"

    def ready(self) -> None:
        from customers.erasure import ERASURE_HOOKS
        from customers.ingest.bulk import NEW_REVIEW_HOOKS
        from nlp import trainers  # noqa: F401  (registers the trainers)

        NEW_REVIEW_HOOKS.append(_score_new_reviews)
        ERASURE_HOOKS.append(_forget_reviews)


def _score_new_reviews(tenant) -> None:
    from nlp import services
    from nlp.tasks import score_new_reviews

    if services.has_active_text_model(tenant):  # no classifier yet: nothing to read them
        try:
            score_new_reviews.delay(tenant.pk)
        except QUEUE_DOWN:  # the reviews are stored; the next training run reads them
            logger.warning("queue unavailable; new reviews of tenant %s not scored yet", tenant.pk)


def _forget_reviews(tenant, customer) -> dict[str, int]:
    from nlp import services

    return services.customer_reviews_forget(tenant=tenant, customer_id=customer.pk)
