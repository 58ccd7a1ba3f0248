from django.urls import path
from rest_framework.routers import SimpleRouter

from nlp.api.views import ClassifyView, ExampleViewSet, SimilarTermsView

router = SimpleRouter()
router.register("nlp/examples", ExampleViewSet, basename="nlp-example")

urlpatterns = [
    path("nlp/classify/", ClassifyView.as_view(), name="nlp-classify"),
    path("nlp/similar-terms/", SimilarTermsView.as_view(), name="nlp-similar-terms"),
    *router.urls,
]
