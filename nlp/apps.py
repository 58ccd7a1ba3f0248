from django.apps import AppConfig


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
        score_new_reviews.delay(tenant.pk)


def _forget_reviews(tenant, customer) -> dict[str, int]:
    from nlp import services

    return services.customer_reviews_forget(tenant=tenant, customer_id=customer.pk)
