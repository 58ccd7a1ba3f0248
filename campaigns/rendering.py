"""A campaign's message templates: checked when saved, compiled once per send, rendered per
recipient with the customer's fields and their personalised products.

Templates use Django's template language on a bare engine: no loaders and no tag
libraries beyond the built-ins, so `{% include %}`, `{% extends %}` and `{% load %}` cannot
reach files or code, and the context holds plain dicts only (no model methods to call).

Variables:
- `customer.external_id`, `customer.email` and every key of the customer's attributes
  (`customer.first_name` ...);
- `recommendations`: the customer's top products, each with `external_id`, `title`,
  `category`, `price`, `url` (the product attribute `url`, if any) and `score`;
- `campaign.name`, `unsubscribe_url`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.template import Context, Engine, Template, TemplateSyntaxError

from customers.ingest.validation import RowError, check_unicode
from tenants.errors import BadRequest

MAX_VARIANTS = 10
MAX_SUBJECT = 500
MAX_BODY = 100_000
_ENGINE = Engine(loaders=[], libraries={}, autoescape=False, debug=False)
_FORBIDDEN_TAGS = re.compile(r"{%-?\s*(include|extends|load|debug|ssi)\b")
_WHITESPACE = re.compile(r"\s+")

SAMPLE_CONTEXT: dict[str, Any] = {
    "customer": {"external_id": "sample", "email": "sample@example.com", "first_name": "Sam"},
    "recommendations": [
        {
            "external_id": "p1",
            "title": "A product",
            "category": "c",
            "price": 9.99,
            "url": "",
            "score": 1.0,
        },
    ],  # fmt: skip
    "campaign": {"name": "sample"},
    "unsubscribe_url": "https://example.com/u/sample",
}


@dataclass(frozen=True)
class CompiledVariant:
    name: str
    subject: Template
    body: Template


def _compile(text: object, path: str) -> Template:
    if not isinstance(text, str):
        raise BadRequest(f"{path}: must be a string.")
    forbidden = _FORBIDDEN_TAGS.search(text)
    if forbidden:
        raise BadRequest(f"{path}: the {{% {forbidden.group(1)} %}} tag is not allowed.")
    try:
        template = _ENGINE.from_string(text)
        template.render(
            Context(SAMPLE_CONTEXT, autoescape=False)
        )  # errors that only show when rendering
    except TemplateSyntaxError as error:
        raise BadRequest(f"{path}: template error: {error}") from None
    except Exception as error:  # noqa: BLE001 (any template failure is the author's input)
        raise BadRequest(f"{path}: template error: {type(error).__name__}: {error}") from None
    return template


def variant_names(variants: list[dict]) -> list[str]:
    """Each variant's name; unnamed ones are a, b, c ... by position."""
    return [str(v.get("name") or chr(97 + i)) for i, v in enumerate(variants)] or ["a"]


def compile_variants(variants: object) -> dict[str, CompiledVariant]:
    """Check and compile a campaign's content variants: a list of 1 to 10
    `{"name", "subject", "body"}` objects with distinct names. Errors are a 400 naming the
    variant and field, e.g. `variants[1].body: template error: ...`."""
    if not isinstance(variants, list) or not variants:
        raise BadRequest("variants: give a list of one or more {name, subject, body} objects.")
    if len(variants) > MAX_VARIANTS:
        raise BadRequest(f"variants: at most {MAX_VARIANTS} variants.")
    for i, variant in enumerate(variants):
        if not isinstance(variant, dict):
            raise BadRequest(f"variants[{i}]: must be an object with subject and body.")
    compiled: dict[str, CompiledVariant] = {}
    for i, (variant, name) in enumerate(zip(variants, variant_names(variants), strict=True)):
        path = f"variants[{i}]"
        unknown = set(variant) - {"name", "subject", "body"}
        if unknown:
            raise BadRequest(f"{path}: unknown field(s) {sorted(unknown)}.")
        for key in ("name", "subject", "body"):
            value = variant.get(key)
            if isinstance(value, str):
                try:
                    check_unicode(value, key)
                except RowError as error:
                    raise BadRequest(f"{path}.{key}: {error.reason}.") from None
        if len(name) > 50:
            raise BadRequest(f"{path}.name: at most 50 characters.")
        if name in compiled:
            raise BadRequest(f"{path}.name: {name!r} is used by another variant.")
        subject, body = variant.get("subject"), variant.get("body")
        if not subject or not isinstance(subject, str) or len(subject) > MAX_SUBJECT:
            raise BadRequest(f"{path}.subject: a non-empty string of at most {MAX_SUBJECT}.")
        if not body or not isinstance(body, str) or len(body) > MAX_BODY:
            raise BadRequest(f"{path}.body: a non-empty string of at most {MAX_BODY}.")
        compiled[name] = CompiledVariant(
            name, _compile(subject, f"{path}.subject"), _compile(body, f"{path}.body")
        )
    return compiled


def customer_context(external_id: str, email: str, attributes: dict | None) -> dict[str, Any]:
    """The `customer` variable: the customer's attributes, then their ids (which win)."""
    return {**(attributes or {}), "external_id": external_id, "email": email}


def render(variant: CompiledVariant, context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) for one recipient. The subject is one line: newlines in data could
    otherwise inject mail headers."""
    ctx = Context(context, autoescape=False)  # plain text: no HTML escaping
    subject = _WHITESPACE.sub(" ", variant.subject.render(ctx)).strip()
    return subject, variant.body.render(ctx)
