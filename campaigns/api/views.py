from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns import selectors, services
from campaigns.api.serializers import (
    FilterPreviewSerializer,
    SegmentPreviewQuerySerializer,
    SegmentPreviewSerializer,
    SegmentSerializer,
)
from campaigns.models import Segment
from customers.api.serializers import CustomerSerializer
from tenants.api.pagination import ExternalCursorPagination
from tenants.api.viewsets import TenantModelViewSet


class MemberPagination(ExternalCursorPagination):
    """A segment's members page by external id, whatever the segment list is ordered by."""

    def get_ordering(self, request, queryset, view) -> tuple[str, ...]:
        return ("external_id",)


INVALID_FILTER = OpenApiResponse(
    description="Invalid filter: `detail` names the JSON path of the bad node and the reason, "
    "e.g. `filter.and[1].op: unknown operator 'lik'; known: ...`."
)
NAME_TAKEN = OpenApiResponse(description="The tenant already has a segment with this name.")
SEGMENT_PREVIEW = {200: SegmentPreviewSerializer, 400: INVALID_FILTER}
SEGMENT_WRITE = {400: INVALID_FILTER, 409: NAME_TAKEN}


@extend_schema(tags=["segments"])
@extend_schema_view(
    create=extend_schema(responses={201: SegmentSerializer, **SEGMENT_WRITE}),
    update=extend_schema(responses={200: SegmentSerializer, **SEGMENT_WRITE}),
    partial_update=extend_schema(responses={200: SegmentSerializer, **SEGMENT_WRITE}),
)
class SegmentViewSet(TenantModelViewSet):
    """Rule-based segments: a JSON filter over the tenant's customers, evaluated when used.
    A filter that is not valid is a 400 whose detail names the JSON path of the bad node."""

    model = Segment
    serializer_class = SegmentSerializer
    filterset_fields = ["name"]
    ordering = "name"
    # Previewing an unsaved filter writes nothing: the read scope is enough.
    action_scopes = {"preview_filter": "read"}

    def perform_create(self, serializer) -> None:
        serializer.instance = services.segment_create(
            tenant=self.tenant, data=dict(serializer.validated_data)
        )

    def perform_update(self, serializer) -> None:
        serializer.instance = services.segment_update(
            segment=serializer.instance, data=dict(serializer.validated_data)
        )

    def perform_destroy(self, instance: Segment) -> None:
        services.segment_delete(segment=instance)

    @extend_schema(responses=CustomerSerializer(many=True))
    @action(
        detail=True, methods=["get"], serializer_class=CustomerSerializer,
        pagination_class=MemberPagination, filter_backends=[],
    )  # fmt: skip
    def customers(self, request: Request, pk: str) -> Response:
        """The segment's members now, by external id."""
        segment = self.get_object()
        members = selectors.segment_customers(tenant=self.tenant, filter=segment.filter)
        page = self.paginate_queryset(members)
        return self.get_paginated_response(CustomerSerializer(page, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("sample", int, description="0-100, default 20.")],
        responses=SEGMENT_PREVIEW,
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def preview(self, request: Request, pk: str) -> Response:
        """How many customers the segment holds now, and a sample of them."""
        segment = self.get_object()
        query = SegmentPreviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return self._preview(segment.filter, query.validated_data["sample"])

    @extend_schema(request=FilterPreviewSerializer, responses=SEGMENT_PREVIEW)
    @action(detail=False, methods=["post"], url_path="preview", url_name="preview-filter")
    def preview_filter(self, request: Request) -> Response:
        """Count and sample for a filter posted without saving it (read scope)."""
        body = FilterPreviewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._preview(body.validated_data["filter"], body.validated_data["sample"])

    def _preview(self, filter: object, sample: int) -> Response:
        result = selectors.segment_preview(tenant=self.tenant, filter=filter, sample=sample)
        return Response(SegmentPreviewSerializer(result).data)
