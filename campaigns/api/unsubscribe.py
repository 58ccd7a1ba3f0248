"""The page behind every message's unsubscribe link. No API key: the signed token in the
URL names the tenant and the customer. GET only asks (mail scanners open links); POST
unsubscribes: the page's button, and mail clients' RFC 8058 one-click POST
(`List-Unsubscribe=One-Click`), which carries no CSRF token."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns import services
from tenants.errors import DomainError

_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width,initial-scale=1">'
    '<title>{}</title></head><body style="font-family:sans-serif;max-width:32rem;'
    'margin:4rem auto"><h1>{}</h1>{}</body></html>'
)


def _page(title: str, body: SafeString, status: int = 200) -> HttpResponse:
    return HttpResponse(format_html(_PAGE, title, title, body), status=status)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "GET":
        confirm = mark_safe(
            '<p>Stop receiving these emails?</p><form method="post">'
            '<button type="submit" name="List-Unsubscribe" value="One-Click">Unsubscribe'
            "</button></form>"
        )
        return _page("Unsubscribe", confirm)
    try:
        services.customer_unsubscribe(token=token)
    except DomainError as error:
        return _page("This link does not work", format_html("<p>{}</p>", error.message),
                     status=error.status_code)  # fmt: skip
    return _page("You are unsubscribed", mark_safe("<p>You will not get these emails again.</p>"))
