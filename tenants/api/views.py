from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class WhoAmIView(APIView):
    """The tenant and scopes of the calling key: lets a client check its credential."""

    @extend_schema(
        tags=["tenancy"],
        responses=inline_serializer(
            "WhoAmI",
            {
                "tenant": serializers.CharField(),
                "key": serializers.CharField(),
                "scopes": serializers.ListField(child=serializers.CharField()),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        key = request.auth
        return Response({"tenant": key.tenant.slug, "key": key.name, "scopes": key.scopes})
