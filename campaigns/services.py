"""Writes to segments. The filter is validated here (campaigns.filters), so every path that
saves a segment (API, admin) refuses the same filters with the same messages."""

from __future__ import annotations

from typing import Any

from campaigns.filters import parse_filter
from campaigns.models import Segment
from tenants.errors import Conflict
from tenants.models import Tenant

WRITABLE = ("name", "description", "filter")


def _check_name(tenant: Tenant | int, name: str, exclude: int | None = None) -> None:
    taken = Segment.objects.filter(tenant=tenant, name=name).exclude(pk=exclude).exists()
    if taken:
        raise Conflict(f"A segment named {name!r} exists.")


def segment_create(*, tenant: Tenant, data: dict, created_by: Any = None) -> Segment:
    parse_filter(data.get("filter"))
    _check_name(tenant, data["name"])
    fields = {key: data[key] for key in WRITABLE if key in data}
    return Segment.objects.create(tenant=tenant, created_by=created_by, **fields)


def segment_update(*, segment: Segment, data: dict) -> Segment:
    if "filter" in data:
        parse_filter(data["filter"])
    if "name" in data and data["name"] != segment.name:
        _check_name(segment.tenant_id, data["name"], exclude=segment.pk)
    for key in WRITABLE:
        if key in data:
            setattr(segment, key, data[key])
    segment.save()
    return segment


def segment_delete(*, segment: Segment) -> None:
    segment.delete()
