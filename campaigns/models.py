"""Tables of the campaigns app."""

from django.conf import settings
from django.db import models

from tenants.models import TenantOwnedModel


class Segment(TenantOwnedModel):
    """A rule-based audience: a JSON filter (grammar in campaigns.filters) over the tenant's
    customers. Membership is not stored; it is evaluated whenever the segment is used."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    filter = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="segment_unique_name")
        ]

    def __str__(self) -> str:
        return self.name
