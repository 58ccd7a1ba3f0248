from django_filters import rest_framework as filters
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns import selectors, services
from campaigns.api.serializers import (
    CampaignSerializer,
    FilterPreviewSerializer,
    LaunchSerializer,
    PreviewQuerySerializer,
    PreviewSerializer,
    RecipientSerializer,
    ReportSerializer,
    SegmentPreviewQuerySerializer,
    SegmentPreviewSerializer,
    SegmentSerializer,
)
from campaigns.models import Campaign, Recipient, Segment
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


CAMPAIGN_STATE = OpenApiResponse(
    description="The campaign is not in a state that allows this (e.g. launching a sent "
    "campaign, editing a sending one); `detail` says which state it is in."
)
CAMPAIGN_WRITE = {400: OpenApiResponse(description="Invalid field or template; `detail` "
                  "names it, e.g. `variants[0].body: template error: ...`."),
                  409: OpenApiResponse(description="Name taken, or the campaign can no "
                  "longer change.")}  # fmt: skip


class RecipientFilter(filters.FilterSet):
    class Meta:
        model = Recipient
        fields = ["status", "group", "variant"]


class RecipientPagination(ExternalCursorPagination):
    ordering = "customer__external_id"

    def get_ordering(self, request, queryset, view) -> tuple[str, ...]:
        return (self.ordering,)


@extend_schema(tags=["campaigns"])
@extend_schema_view(
    create=extend_schema(responses={201: CampaignSerializer, **CAMPAIGN_WRITE}),
    update=extend_schema(responses={200: CampaignSerializer, **CAMPAIGN_WRITE}),
    partial_update=extend_schema(responses={200: CampaignSerializer, **CAMPAIGN_WRITE}),
    destroy=extend_schema(responses={204: None, 409: CAMPAIGN_STATE}),
)
class CampaignViewSet(TenantModelViewSet):
    """Campaigns: a segment, content variants with per-customer recommendations, a holdout.
    Lifecycle: draft -> (scheduled) -> sending <-> paused -> sent, or cancelled."""

    model = Campaign
    serializer_class = CampaignSerializer
    filterset_fields = ["status", "channel", "name"]
    ordering = "-created_at"
    action_scopes = {"preview": "read"}

    def perform_create(self, serializer) -> None:
        serializer.instance = services.campaign_create(
            tenant=self.tenant, data=dict(serializer.validated_data)
        )

    def perform_update(self, serializer) -> None:
        serializer.instance = services.campaign_update(
            campaign=serializer.instance, data=dict(serializer.validated_data)
        )

    def perform_destroy(self, instance: Campaign) -> None:
        services.campaign_delete(campaign=instance)

    @extend_schema(request=None, responses={202: LaunchSerializer, 409: CAMPAIGN_STATE})
    @action(detail=True, methods=["post"])
    def launch(self, request: Request, pk: str) -> Response:
        """Freeze the audience as recipients and start sending (202); a campaign with a
        future `scheduled_at` is scheduled instead and launched then."""
        result = services.campaign_launch(tenant=self.tenant, campaign=self.get_object())
        return Response(LaunchSerializer(result).data, status=status.HTTP_202_ACCEPTED)

    def _transition(self, service) -> Response:
        campaign = service(tenant=self.tenant, campaign=self.get_object())
        return Response(CampaignSerializer(campaign, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses={200: CampaignSerializer, 409: CAMPAIGN_STATE})
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        """Stop sending after the batch in flight."""
        return self._transition(services.campaign_pause)

    @extend_schema(request=None, responses={200: CampaignSerializer, 409: CAMPAIGN_STATE})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        """Carry on sending where the pause stopped."""
        return self._transition(services.campaign_resume)

    @extend_schema(request=None, responses={200: CampaignSerializer, 409: CAMPAIGN_STATE})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Send nobody else; whoever was sent stays in the report."""
        return self._transition(services.campaign_cancel)

    @extend_schema(responses=ReportSerializer)
    @action(detail=True, methods=["get"], filter_backends=[])
    def report(self, request: Request, pk: str) -> Response:
        """Sent, failed and excluded counts; conversions in the attribution window for
        treatment and control; uplift with its 95% interval, p-value and verdict; variants
        compared; cumulative conversions per day. Recomputed on every read."""
        result = selectors.campaign_report(tenant=self.tenant, campaign=self.get_object())
        return Response(ReportSerializer(result).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=Recipient.Status.values),
            OpenApiParameter("group", str, enum=Recipient.Group.values),
            OpenApiParameter("variant", str),
        ],
        responses=RecipientSerializer(many=True),
    )
    @action(
        detail=True, methods=["get"], serializer_class=RecipientSerializer,
        pagination_class=RecipientPagination, filter_backends=[],
    )  # fmt: skip
    def recipients(self, request: Request, pk: str) -> Response:
        """The frozen recipient list: group, variant, status, reason and attempts; filter
        by status, group or variant."""
        campaign = self.get_object()
        rows = Recipient.objects.filter(tenant=self.tenant, campaign=campaign).select_related(
            "customer"
        )
        chosen = RecipientFilter(request.query_params, queryset=rows)
        if not chosen.is_valid():
            raise ValidationError(chosen.errors)
        page = self.paginate_queryset(chosen.qs)
        return self.get_paginated_response(RecipientSerializer(page, many=True).data)

    @extend_schema(
        parameters=[PreviewQuerySerializer],
        responses={200: PreviewSerializer, 400: OpenApiResponse(description="Unknown variant "
                   "or broken template."), 404: OpenApiResponse(description="Unknown customer.")},
    )  # fmt: skip
    @action(detail=True, methods=["get"], filter_backends=[])
    def preview(self, request: Request, pk: str) -> Response:
        """The message one customer would get, rendered with their recommendations."""
        campaign = self.get_object()
        query = PreviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = selectors.campaign_preview(
            tenant=self.tenant, campaign=campaign, **query.validated_data
        )
        return Response(PreviewSerializer(result).data)
