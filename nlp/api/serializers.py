from rest_framework import serializers

from customers.api.serializers import RejectedRowSerializer
from nlp.models import LabelledExample
from nlp.services import MAX_CLASSIFY, MAX_TEXT


class ExampleSerializer(serializers.ModelSerializer):
    class Meta:
        model = LabelledExample
        fields = ["id", "key", "task", "text", "label", "created_at", "updated_at"]
        read_only_fields = fields


class ExampleInputSerializer(serializers.Serializer):
    """For the schema: what one row of `examples/bulk/` holds."""

    text = serializers.CharField(max_length=MAX_TEXT)
    label = serializers.CharField(max_length=100)
    task = serializers.RegexField(r"^[a-z0-9][a-z0-9_-]{0,49}$", help_text="e.g. sentiment")


class ExamplesResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField(help_text="Texts already labelled for the task.")
    rejected = RejectedRowSerializer(many=True)


class ClassifyRequestSerializer(serializers.Serializer):
    task = serializers.CharField(help_text="A task with a trained model, e.g. sentiment.")
    texts = serializers.ListField(
        child=serializers.CharField(max_length=MAX_TEXT, trim_whitespace=False),
        help_text=f"1 to {MAX_CLASSIFY} texts of at most {MAX_TEXT} characters.",
    )


class ClassificationSerializer(serializers.Serializer):
    label = serializers.CharField()
    probabilities = serializers.DictField(child=serializers.FloatField())


class ClassifyResponseSerializer(serializers.Serializer):
    results = ClassificationSerializer(many=True, help_text="In the order of the texts.")


class SimilarTermsQuerySerializer(serializers.Serializer):
    term = serializers.CharField(max_length=200)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)


class SimilarTermSerializer(serializers.Serializer):
    term = serializers.CharField()
    similarity = serializers.FloatField(help_text="Cosine similarity of the word vectors.")


class SimilarTermsSerializer(serializers.Serializer):
    results = SimilarTermSerializer(many=True)


class TaskSerializer(serializers.Serializer):
    task = serializers.CharField()
    examples = serializers.DictField(child=serializers.IntegerField(),
                                     help_text="Uploaded examples per label.")  # fmt: skip
    trained = serializers.BooleanField(help_text="The active text model has a classifier.")
    metrics = serializers.DictField(allow_null=True, help_text="Held-out accuracy, macro-F1, "
                                    "per-class precision and recall, confusion matrix.")  # fmt: skip
