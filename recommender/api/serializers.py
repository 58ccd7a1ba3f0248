from rest_framework import serializers

from recommender.serving import LIMIT_MAX


class RecommendationSerializer(serializers.Serializer):
    product = serializers.CharField(help_text="The product's external id.")
    title = serializers.CharField()
    score = serializers.FloatField()
    source = serializers.CharField(help_text="The model that ranked it, or popularity.")


class RecommendationListSerializer(serializers.Serializer):
    results = RecommendationSerializer(many=True)


class PopularQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=LIMIT_MAX, default=10)
    category = serializers.CharField(required=False, allow_blank=False, max_length=200)
