from django.urls import path

from recommender.api.views import PopularView

urlpatterns = [
    path("recommendations/popular/", PopularView.as_view(), name="recommendations-popular"),
]
