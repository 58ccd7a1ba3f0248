from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from nlp import selectors, services
from nlp.api.serializers import (
    ClassifyRequestSerializer,
    ClassifyResponseSerializer,
    ExampleInputSerializer,
    ExampleSerializer,
    ExamplesResultSerializer,
    SimilarTermsQuerySerializer,
    SimilarTermsSerializer,
    TaskSerializer,
)
from nlp.models import LabelledExample
from tenants.api.permissions import DEFAULT_SCOPE_MAP
from tenants.api.viewsets import TenantViewSet

NO_MODEL = OpenApiResponse(description="No trained model for the task (or no embeddings, or "
                           "a term without a vector); `detail` says which.")  # fmt: skip
BAD_INPUT = OpenApiResponse(description="Invalid input; `detail` names it.")


@extend_schema(tags=["nlp"])
class ExampleViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantViewSet
):
    """Labelled texts for the tenant's text classifiers, per task ("sentiment", "topic" ...).
    Reviews with a rating also teach the "sentiment" task (4-5 positive, 1-2 negative)."""

    model = LabelledExample
    serializer_class = ExampleSerializer
    filterset_fields = ["task", "label"]
    ordering = "-id"

    @extend_schema(
        request=ExampleInputSerializer(many=True),
        responses={200: ExamplesResultSerializer, 400: ExamplesResultSerializer},
        description="Up to 10,000 `{text, label, task}` rows; a text already labelled for the "
        "task gets the new label. Bad rows are listed by index with field and reason; the "
        "valid ones are stored.",
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request: Request) -> Response:
        result = services.examples_upsert(tenant=self.tenant, rows=request.data)
        body = ExamplesResultSerializer(result).data
        if result.rejected and not (result.created or result.updated):
            return Response({"detail": "No row was valid; nothing was stored.", "code": "invalid",
                             **body}, status=400)  # fmt: skip
        return Response(body)

    @extend_schema(responses=TaskSerializer(many=True))
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def tasks(self, request: Request) -> Response:
        """Each task: uploaded examples per label, and the active model's held-out metrics."""
        return Response(TaskSerializer(selectors.task_overview(tenant=self.tenant), many=True).data)


class TenantComputedView(APIView):
    """A computed answer, not a view of rows: the services scope their reads to the key's
    tenant."""

    @property
    def tenant(self):
        return self.request.auth.tenant


class ClassifyView(TenantComputedView):
    scope_map = {**DEFAULT_SCOPE_MAP, "POST": "read"}  # classifying writes nothing

    @extend_schema(
        tags=["nlp"], request=ClassifyRequestSerializer,
        responses={200: ClassifyResponseSerializer, 400: BAD_INPUT, 404: NO_MODEL},
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        """Label texts with the task's active classifier: `{"task", "texts": [...]}` (up to
        1,000 texts) gives `{"results": [{"label", "probabilities"}]}` in the texts' order."""
        body = request.data if isinstance(request.data, dict) else {}
        results = services.texts_classify(
            tenant=self.tenant, task=body.get("task"), texts=body.get("texts")
        )
        return Response({"results": results})


class SimilarTermsView(TenantComputedView):
    @extend_schema(
        tags=["nlp"], parameters=[SimilarTermsQuerySerializer],
        responses={200: SimilarTermsSerializer, 400: BAD_INPUT, 404: NO_MODEL},
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        """Words used like `term` in the tenant's product texts and reviews (Word2Vec)."""
        query = SimilarTermsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        results = services.similar_terms(tenant=self.tenant, **query.validated_data)
        return Response({"results": results})
