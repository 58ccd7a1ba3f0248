"""Message templates: plain text rendered as written, one-line subjects, no file or code
access from a template."""

from __future__ import annotations

import pytest

from campaigns.rendering import compile_variants, customer_context, render
from tenants.errors import BadRequest


def _one(subject: str, body: str):
    return compile_variants([{"name": "a", "subject": subject, "body": body}])["a"]


def test_text_is_not_html_escaped_and_subjects_stay_on_one_line():
    variant = _one(
        "Hi {{ customer.first_name }}", "{% for p in recommendations %}{{ p.title }};{% endfor %}"
    )
    context = {
        "customer": customer_context("c1", "c1@x.test", {"first_name": "Ann\nBcc: x@evil.test"}),
        "recommendations": [{"title": "Chef's knife <8\">"}, {"title": "Tom & Jerry"}],
    }
    subject, body = render(variant, context)
    assert subject == "Hi Ann Bcc: x@evil.test"
    assert body == "Chef's knife <8\">;Tom & Jerry;"


def test_the_customers_own_ids_win_over_attributes_of_the_same_name():
    context = customer_context("c1", "c1@x.test", {"external_id": "spoof", "tier": "gold"})
    assert context == {"external_id": "c1", "email": "c1@x.test", "tier": "gold"}


@pytest.mark.parametrize(
    "body",
    ["{% include 'secrets.txt' %}", "{% load static %}", "{% extends 'base.html' %}",
     "{% debug %}", "{% for x in %}"],
)  # fmt: skip
def test_templates_that_reach_files_or_code_or_do_not_parse_are_refused(body):
    with pytest.raises(BadRequest, match=r"variants\[0\]\.body"):
        _one("s", body)
