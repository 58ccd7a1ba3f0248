from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from customers import selectors, services
from customers.api.filters import CustomerFilter, InteractionFilter, ProductFilter
from customers.api.serializers import (
    BULK_DESCRIPTION,
    BulkResultSerializer,
    CustomerDetailSerializer,
    CustomerSerializer,
    InteractionInSerializer,
    InteractionSerializer,
    ProductDetailSerializer,
    ProductSerializer,
)
from customers.erasure import customer_erase, customer_export
from customers.ingest.validation import RowError, check_batch
from customers.models import Customer, Interaction, Product
from nlp.selectors import sentiment_of
from tenants.api.viewsets import TenantModelViewSet, TenantViewSet
from tenants.errors import BadRequest
from tenants.pseudonyms import customer_ref, email_ref, is_pseudonymised

EXTERNAL_ID_PATTERN = r"[^/]+"


def bulk_response(rows: object, what: str, ingest, tenant) -> Response:
    try:
        check_batch(rows, what=what)
    except RowError as error:
        raise BadRequest(f"Invalid batch: {error.reason}.") from None
    result = ingest(tenant=tenant, rows=rows)
    body = BulkResultSerializer(result).data
    if result.accepted == 0:
        body = {
            "detail": "No row of the batch was valid; nothing was stored.",
            "code": "invalid",
            **body,
        }
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    return Response(body, status=status.HTTP_200_OK)


class ExternalIdViewSet(TenantModelViewSet):
    """CRUD addressed by the client's external_id; writes go through the app's services."""

    lookup_field = "external_id"
    lookup_value_regex = EXTERNAL_ID_PATTERN

    def perform_create(self, serializer) -> None:
        serializer.instance = self.create_service(
            tenant=self.tenant, data=dict(serializer.validated_data)
        )

    def perform_update(self, serializer) -> None:
        serializer.instance = self.update_service(
            serializer.instance, dict(serializer.validated_data)
        )

    def perform_destroy(self, instance) -> None:
        self.delete_service(instance)


@extend_schema(tags=["customers"])
class CustomerViewSet(ExternalIdViewSet):
    model = Customer
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter

    def create_service(self, *, tenant, data):
        return services.customer_create(tenant=tenant, data=data)

    def get_object(self) -> Customer:
        # The client's id, as this tenant stores it (a pseudonym when it pseudonymises).
        self.kwargs["external_id"] = customer_ref(self.tenant, self.kwargs["external_id"])
        return super().get_object()

    def filter_queryset(self, queryset):
        term = self.request.query_params.get("search", "").strip()
        if self.action != "list" or not term or not is_pseudonymised(self.tenant):
            return super().filter_queryset(queryset)
        # Pseudonyms cannot be searched by part: the whole id or email finds its customer.
        queryset = queryset.filter(
            Q(external_id=customer_ref(self.tenant, term)) | Q(email=email_ref(self.tenant, term))
        )
        return super().filter_queryset(queryset)

    @property
    def search_fields(self) -> list[str]:
        request = getattr(self, "request", None)
        if request is not None and request.auth is not None and is_pseudonymised(self.tenant):
            return []  # filter_queryset matches the whole id or email instead
        return ["external_id", "email"]

    def update_service(self, customer, data):
        return services.customer_update(customer=customer, data=data)

    def delete_service(self, customer):
        services.customer_delete(customer=customer)

    @extend_schema(
        parameters=[OpenApiParameter(
            "erase", bool, description="Erase under GDPR: also drop derived data (review "
            "sentiment, pending campaign sends), mark every model version trained on the "
            "customer's data for retraining, and keep an erasure record (what, when, by "
            "whom; not who). Campaign counts are kept.")],
        responses={204: None},
    )  # fmt: skip
    def destroy(self, request: Request, *args, **kwargs) -> Response:
        if request.query_params.get("erase", "").lower() not in ("true", "1", "yes"):
            return super().destroy(request, *args, **kwargs)
        customer_erase(tenant=self.tenant, customer=self.get_object(),
                       erased_by=f"api key:{request.auth.prefix}")  # fmt: skip
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"], filter_backends=[])
    def export(self, request: Request, *args, **kwargs) -> Response:
        """Everything held about the customer (GDPR access request): profile,
        interactions, model outputs, campaigns, review sentiment."""
        return Response(customer_export(tenant=self.tenant, customer=self.get_object()))

    @extend_schema(responses=CustomerDetailSerializer)
    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        customer = self.get_object()
        summary = selectors.customer_summary(tenant=self.tenant, customer=customer)
        intelligence = selectors.customer_intelligence(
            tenant=self.tenant, customer=customer, frequency=summary["frequency"]
        )
        sentiment = sentiment_of(tenant=self.tenant, customer_id=customer.pk)
        context = {**self.get_serializer_context(), "summary": summary, **intelligence,
                   "sentiment": sentiment}  # fmt: skip
        return Response(CustomerDetailSerializer(customer, context=context).data)

    @extend_schema(
        request=CustomerSerializer(many=True),
        responses={200: BulkResultSerializer, 400: OpenApiResponse(BulkResultSerializer)},
        description=BULK_DESCRIPTION,
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request: Request) -> Response:
        return bulk_response(request.data, "customers", services.customer_upsert_bulk, self.tenant)


@extend_schema(tags=["products"])
class ProductViewSet(ExternalIdViewSet):
    model = Product
    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    search_fields = ["external_id", "title", "category"]

    def create_service(self, *, tenant, data):
        return services.product_create(tenant=tenant, data=data)

    def update_service(self, product, data):
        return services.product_update(product=product, data=data)

    def delete_service(self, product):
        services.product_delete(product=product)

    @extend_schema(responses=ProductDetailSerializer)
    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        product = self.get_object()
        context = {**self.get_serializer_context(),
                   "sentiment": sentiment_of(tenant=self.tenant, product_id=product.pk)}  # fmt: skip
        return Response(ProductDetailSerializer(product, context=context).data)

    @extend_schema(
        request=ProductSerializer(many=True),
        responses={200: BulkResultSerializer, 400: OpenApiResponse(BulkResultSerializer)},
        description=BULK_DESCRIPTION,
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request: Request) -> Response:
        return bulk_response(request.data, "products", services.product_upsert_bulk, self.tenant)


@extend_schema(tags=["interactions"])
class InteractionViewSet(mixins.ListModelMixin, TenantViewSet):
    model = Interaction
    serializer_class = InteractionSerializer
    filterset_class = InteractionFilter
    ordering = "-occurred_at"

    def get_queryset(self):
        return super().get_queryset().select_related("customer", "product")

    @extend_schema(
        request=InteractionInSerializer(many=True),
        responses={200: BulkResultSerializer, 400: OpenApiResponse(BulkResultSerializer)},
        description=BULK_DESCRIPTION
        + " Unknown customers and products are created; a repeated event_id is counted as a "
        "duplicate and not stored twice.",
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request: Request) -> Response:
        return bulk_response(request.data, "events", services.interaction_ingest_bulk, self.tenant)
