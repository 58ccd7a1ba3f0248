from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from tenants.errors import BadRequest


class ExternalCursorPagination(CursorPagination):
    """Cursor pagination over a client-facing field, so internal keys never leak in cursors."""

    ordering = "external_id"
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_ordering(self, request, queryset, view):
        ordering = getattr(view, "ordering", None) or self.ordering
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)

    def decode_cursor(self, request):
        # DRF answers a cursor it cannot read with a 404; it is a bad parameter, not a
        # missing page.
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise BadRequest(
                "Invalid `cursor`: pass the `next` or `previous` link of a page unchanged."
            ) from None
