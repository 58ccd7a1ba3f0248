from rest_framework import serializers

from recommender.serving import LIMIT_MAX

EXCLUDE_MAX = 1_000


class RecommendationSerializer(serializers.Serializer):
    product = serializers.CharField(help_text="The product's external id.")
    title = serializers.CharField()
    score = serializers.FloatField(help_text="Higher is better; comparable within one list only.")
    source = serializers.CharField(
        help_text="What ranked it: the selected model's family (als, ease, itemknn, svd, bpr, "
        "content, blend), content (a new product placed through its content neighbours), "
        "content+popularity (a customer with little history) or popularity."
    )


class RecommendationListSerializer(serializers.Serializer):
    results = RecommendationSerializer(many=True)


class LimitQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=LIMIT_MAX, default=10)


class PopularQuerySerializer(LimitQuerySerializer):
    category = serializers.CharField(required=False, allow_blank=False, max_length=200)


class CustomerRecommendationsQuerySerializer(PopularQuerySerializer):
    exclude_seen = serializers.BooleanField(
        default=True, help_text="Leave out products the customer bought or rated."
    )
    exclude = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=EXCLUDE_MAX,
        help_text="Product external ids never to return; repeat the parameter or separate "
        "ids with commas.",
    )

    def to_internal_value(self, data):
        # Query strings carry lists as repeated parameters, or as one comma-separated value.
        if hasattr(data, "getlist"):
            data = {key: data.get(key) for key in data} | {
                "exclude": [
                    part
                    for value in data.getlist("exclude")
                    for part in {value, *value.split(",")}
                    if part
                ]
            }
        return super().to_internal_value(data)
