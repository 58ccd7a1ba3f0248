from rest_framework.routers import SimpleRouter

from campaigns.api.views import SegmentViewSet

router = SimpleRouter()
router.register("segments", SegmentViewSet, basename="segment")

urlpatterns = router.urls
