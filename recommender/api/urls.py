from django.urls import re_path

from customers.api.views import EXTERNAL_ID_PATTERN
from recommender.api.views import (
    CustomerRecommendationsView,
    PopularView,
    SimilarProductsView,
)

urlpatterns = [
    re_path(r"^recommendations/popular/$", PopularView.as_view(), name="recommendations-popular"),
    re_path(
        rf"^customers/(?P<external_id>{EXTERNAL_ID_PATTERN})/recommendations/$",
        CustomerRecommendationsView.as_view(),
        name="customer-recommendations",
    ),
    re_path(
        rf"^products/(?P<external_id>{EXTERNAL_ID_PATTERN})/similar/$",
        SimilarProductsView.as_view(),
        name="product-similar",
    ),
]
