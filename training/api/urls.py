from rest_framework.routers import SimpleRouter

from training.api.views import ModelVersionViewSet, RetrainPolicyViewSet, TrainingRunViewSet

router = SimpleRouter()
router.register("training-runs", TrainingRunViewSet, basename="training-run")
router.register("models", ModelVersionViewSet, basename="model-version")
router.register("retrain-policies", RetrainPolicyViewSet, basename="retrain-policy")

urlpatterns = router.urls
