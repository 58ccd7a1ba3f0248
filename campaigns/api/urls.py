from rest_framework.routers import SimpleRouter

from campaigns.api.views import CampaignViewSet, SegmentViewSet

router = SimpleRouter()
router.register("segments", SegmentViewSet, basename="segment")
router.register("campaigns", CampaignViewSet, basename="campaign")

urlpatterns = router.urls
