from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.models import Customer, Product
from recommender.api.serializers import (
    CustomerRecommendationsQuerySerializer,
    LimitQuerySerializer,
    PopularQuerySerializer,
    RecommendationListSerializer,
)
from recommender.serving import popular_products, recommendations_for_customer, similar_products
from tenants.api.viewsets import TenantScopedViewMixin
from tenants.pseudonyms import customer_ref


def _listed(items) -> Response:
    return Response(RecommendationListSerializer({"results": items}).data)


class PopularView(APIView):
    """The tenant's popular active products: what a customer with no history is shown.

    A computed answer, not a view of rows: the serving code scopes its reads to the key's
    tenant itself."""

    @extend_schema(
        tags=["recommendations"],
        parameters=[PopularQuerySerializer],
        responses=RecommendationListSerializer,
    )
    def get(self, request: Request) -> Response:
        query = PopularQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return _listed(popular_products(tenant=request.auth.tenant, **query.validated_data))


class CustomerRecommendationsView(TenantScopedViewMixin, GenericAPIView):
    """A customer's recommended products, best first. A customer id the tenant has never
    sent gets the popular products (source "popularity"), not an error."""

    model = Customer
    lookup_field = "external_id"
    serializer_class = RecommendationListSerializer
    answers_any_address = True

    @extend_schema(
        tags=["recommendations"],
        parameters=[CustomerRecommendationsQuerySerializer],
        responses={
            200: RecommendationListSerializer,
            400: OpenApiResponse(description="Bad query"),
        },
    )
    def get(self, request: Request, external_id: str) -> Response:
        query = CustomerRecommendationsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return _listed(
            recommendations_for_customer(
                tenant=self.tenant,
                external_id=customer_ref(self.tenant, external_id),
                **query.validated_data,
            )
        )


class SimilarProductsView(TenantScopedViewMixin, GenericAPIView):
    """Active products most like this one ("customers who liked this also liked"; content
    neighbours for a product nobody has interacted with yet)."""

    model = Product
    lookup_field = "external_id"
    serializer_class = RecommendationListSerializer

    @extend_schema(
        tags=["recommendations"],
        parameters=[LimitQuerySerializer],
        responses={
            200: RecommendationListSerializer,
            404: OpenApiResponse(description="No such product"),
        },
    )
    def get(self, request: Request, external_id: str) -> Response:
        query = LimitQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return _listed(
            similar_products(tenant=self.tenant, external_id=external_id, **query.validated_data)
        )
