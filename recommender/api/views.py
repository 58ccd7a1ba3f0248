from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recommender.api.serializers import PopularQuerySerializer, RecommendationListSerializer
from recommender.serving import popular_products


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
        items = popular_products(tenant=request.auth.tenant, **query.validated_data)
        return Response(RecommendationListSerializer({"results": items}).data)
