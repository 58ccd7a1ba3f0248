from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.api.viewsets import TenantViewSet
from tenants.errors import NotFound
from training import selectors, services
from training.api.serializers import (
    ModelVersionSerializer,
    RetrainPolicySerializer,
    TrainingRunRequestSerializer,
    TrainingRunSerializer,
)
from training.models import ModelVersion, RetrainPolicy, TrainingRun


@extend_schema(tags=["training"])
class TrainingRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    model = TrainingRun
    serializer_class = TrainingRunSerializer
    filterset_fields = ["kind", "status"]
    ordering = "-queued_at"

    @extend_schema(
        request=TrainingRunRequestSerializer,
        responses={202: TrainingRunSerializer(many=True)},
        description='Queue a training run for one kind, or one per kind with `"kind": "all"`. '
        "A kind that already has a queued run gets that run back. The answer is the list of runs.",
    )
    def create(self, request: Request) -> Response:
        body = TrainingRunRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        runs = services.training_run_request(
            tenant=self.tenant, kind=body.validated_data["kind"],
            trigger=TrainingRun.Trigger.API, parameters=body.validated_data["parameters"],
        )  # fmt: skip
        return Response(
            TrainingRunSerializer(runs, many=True).data, status=status.HTTP_202_ACCEPTED
        )


@extend_schema(tags=["training"])
class ModelVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    model = ModelVersion
    serializer_class = ModelVersionSerializer
    filterset_fields = ["kind", "status"]
    ordering = "-created_at"
    action_scopes = {"activate": "admin"}

    @extend_schema(request=None, responses={200: ModelVersionSerializer})
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str) -> Response:
        """Make this version the active one for its kind (roll back or forward)."""
        version = services.model_version_activate(tenant=self.tenant, version=self.get_object())
        return Response(ModelVersionSerializer(version).data)


@extend_schema(tags=["training"])
class RetrainPolicyViewSet(TenantViewSet):
    """Per kind: whether and how often the schedule retrains, and the activation tolerance."""

    model = RetrainPolicy
    serializer_class = RetrainPolicySerializer
    lookup_field = "kind"
    pagination_class = None

    def list(self, request: Request) -> Response:
        policies = selectors.retrain_policy_list(tenant=self.tenant)
        return Response(RetrainPolicySerializer(policies, many=True).data)

    def _policy(self, kind: str) -> RetrainPolicy:
        for policy in selectors.retrain_policy_list(tenant=self.tenant):
            if policy.kind == kind:
                return policy
        raise NotFound(f"No model kind {kind!r}.")

    def retrieve(self, request: Request, kind: str) -> Response:
        return Response(RetrainPolicySerializer(self._policy(kind)).data)

    @extend_schema(responses={200: RetrainPolicySerializer, 404: OpenApiResponse()})
    def update(self, request: Request, kind: str, partial: bool = False) -> Response:
        body = RetrainPolicySerializer(self._policy(kind), data=request.data, partial=partial)
        body.is_valid(raise_exception=True)
        policy = services.retrain_policy_update(
            tenant=self.tenant, kind=kind, data=dict(body.validated_data)
        )
        return Response(RetrainPolicySerializer(policy).data)

    def partial_update(self, request: Request, kind: str) -> Response:
        return self.update(request, kind, partial=True)
