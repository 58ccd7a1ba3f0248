from rest_framework.routers import SimpleRouter

from customers.api.views import CustomerViewSet, InteractionViewSet, ProductViewSet

router = SimpleRouter()
router.register("customers", CustomerViewSet, basename="customer")
router.register("products", ProductViewSet, basename="product")
router.register("interactions", InteractionViewSet, basename="interaction")

urlpatterns = router.urls
