from rest_framework.pagination import CursorPagination


class ExternalCursorPagination(CursorPagination):
    """Cursor pagination over a client-facing field, so internal keys never leak in cursors."""

    ordering = "external_id"
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_ordering(self, request, queryset, view):
        ordering = getattr(view, "ordering", None) or self.ordering
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)
