from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from campaigns.api.unsubscribe import unsubscribe
from tenants.api.views import WhoAmIView
from training import health

api_v1 = [
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[], authentication_classes=[]),
        name="schema",
    ),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(
            url_name="schema", permission_classes=[], authentication_classes=[]
        ),
        name="docs",
    ),
    path("whoami/", WhoAmIView.as_view(), name="whoami"),
    path("", include("customers.api.urls")),
    path("", include("training.api.urls")),
    path("", include("recommender.api.urls")),
    path("", include("campaigns.api.urls")),
    path("", include("nlp.api.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("django_prometheus.urls")),  # /metrics
    path("admin/", admin.site.urls),
    path("u/<str:token>/", unsubscribe, name="unsubscribe"),
    path("api/v1/", include(api_v1)),
]
