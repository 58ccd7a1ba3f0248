"""The synthetic shop: valid rows, planted structure a model can find, and the two commands."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command

from customers.ingest.validation import (
    parse_timestamp,
    validate_customer,
    validate_interaction,
    validate_product,
)
from customers.models import Customer, Interaction, Product
from customers.synthetic import SyntheticConfig, SyntheticDataset
from tenants.context import tenant_scope
from tests.factories import TenantFactory

CONFIG = SyntheticConfig(n_customers=300, n_products=120, n_days=180, seed=7)

EN_POSITIVE = ("Love it", "happy", "Exactly what", "Five stars", "excellent", "Great value")
EN_POSITIVE += ("Works exactly", "better than", "Would buy again", "Highly recommend")
EN_NEGATIVE = ("disappointed", "Terrible", "Not worth", "poor", "broke", "damaged", "Returned")
EN_NEGATIVE += ("Would not recommend", "Avoid", "Waste", "letdown", "Nothing like")
ZH_POSITIVE = ("很好", "满意", "物超所值", "精细", "很快", "一致", "喜欢", "回购", "强烈推荐")
ZH_NEGATIVE = ("太差", "失望", "不符", "粗糙", "坏了", "不推荐", "退货", "不行")


@pytest.fixture(scope="module")
def dataset() -> SyntheticDataset:
    return SyntheticDataset(CONFIG)


@pytest.fixture(scope="module")
def events(dataset) -> list[dict]:
    return list(dataset.interactions())


def _index(external_id: str) -> int:
    return int(external_id[1:])


def _when(row: dict) -> datetime:
    return parse_timestamp(row["occurred_at"])


def test_same_seed_gives_the_same_data_and_another_seed_does_not(events):
    again = SyntheticDataset(CONFIG)
    other = SyntheticDataset(SyntheticConfig(n_customers=300, n_products=120, n_days=180, seed=8))

    assert list(again.interactions()) == events
    assert list(again.products()) == list(SyntheticDataset(CONFIG).products())
    assert list(other.interactions())[:200] != events[:200]
    assert list(other.products()) != list(again.products())


def test_every_row_passes_the_ingest_validators(dataset, events):
    customers, products = list(dataset.customers()), list(dataset.products())

    for row in customers:
        validate_customer(row)
    for row in products:
        validate_product(row)
    for row in events:
        validate_interaction(row, now=CONFIG.end)  # nothing after the window either

    assert {r["kind"] for r in events} == {
        "view",
        "click",
        "add_to_cart",
        "purchase",
        "rating",
        "review",
    }
    assert len({r["event_id"] for r in events}) == len(events)
    assert customers[123]["external_id"] == "c000123"
    assert products[42]["external_id"] == "p00042"
    assert all(r["occurred_at"].endswith("Z") for r in events)
    assert min(_when(r) for r in events) >= CONFIG.start
    assert any(not p["is_active"] for p in products)
    assert any(p["attributes"]["language"] == "zh" for p in products)


def test_interactions_stream_in_customer_batches(dataset, events):
    stream = dataset.interactions()
    first = next(stream)
    batches = SyntheticDataset(SyntheticConfig(n_customers=600, n_days=7)).interaction_batches()

    assert isinstance(stream, Iterator)
    assert first == events[0]
    assert sum(n for n, _ in batches) == 600


def test_purchase_value_is_price_times_quantity_and_follows_a_cart(dataset, events):
    prices = {p["external_id"]: p["price"] for p in dataset.products()}
    carted = set()
    for row in events:
        if row["kind"] == "add_to_cart":
            carted.add((row["customer"], row["product"]))
        if row["kind"] == "purchase":
            quantity = row["value"] / prices[row["product"]]
            assert quantity >= 1 and abs(quantity - round(quantity)) < 1e-6
            assert (row["customer"], row["product"]) in carted


def test_customers_buy_mostly_from_their_favourite_category(dataset, events):
    category = dataset.product_category
    bought = defaultdict(list)
    for row in events:
        if row["kind"] == "purchase":
            bought[_index(row["customer"])].append(category[_index(row["product"])])
    overall = np.bincount(
        [c for cats in bought.values() for c in cats], minlength=len(dataset.category_names)
    )
    overall = overall / overall.sum()

    own_share, base_share = [], []
    for i, cats in bought.items():
        if len(cats) >= 3:
            favourite = int(np.argmax(dataset.customer_tastes[i]))
            own_share.append(np.mean(np.array(cats) == favourite))
            base_share.append(overall[favourite])

    assert len(own_share) > 50
    assert np.mean(own_share) > 0.5
    assert np.mean(own_share) > 3 * np.mean(base_share)


def test_tastes_are_concentrated_on_a_few_categories(dataset):
    tastes = dataset.customer_tastes

    assert np.allclose(tastes.sum(axis=1), 1)
    top3 = np.sort(tastes, axis=1)[:, -3:].sum(axis=1)
    assert np.all(top3 > 0.85)
    assert 8 <= len(dataset.category_names) <= 12


def test_ratings_are_higher_when_the_category_matches_the_customer_taste(dataset, events):
    matched, unmatched = [], []
    for row in events:
        if row["kind"] == "rating":
            taste = dataset.customer_tastes[_index(row["customer"])]
            weight = taste[dataset.product_category[_index(row["product"])]]
            if weight == taste.max():
                matched.append(row["value"])
            elif weight < 0.05:  # outside the customer's favourite categories
                unmatched.append(row["value"])

    assert len(matched) > 100 and len(unmatched) >= 10
    assert np.mean(matched) - np.mean(unmatched) > 1.5
    assert {1.0, 2.0, 3.0, 4.0, 5.0} <= set(matched + unmatched)


def test_review_wording_follows_the_rating_in_english_and_in_chinese(events):
    seen = Counter()
    for row in events:
        if row["kind"] != "review":
            continue
        text, stars = row["text"], row["value"]
        chinese = any("\u4e00" <= ch <= "\u9fff" for ch in text)
        positive, negative = (ZH_POSITIVE, ZH_NEGATIVE) if chinese else (EN_POSITIVE, EN_NEGATIVE)
        pos = sum(word in text for word in positive)
        neg = sum(word in text for word in negative)
        if stars >= 4:
            assert pos > 0 and neg == 0, text
        elif stars <= 2:
            assert neg > 0 and pos == 0, text
        seen[
            "zh" if chinese else "en", "good" if stars >= 4 else "bad" if stars <= 2 else "ok"
        ] += 1

    assert seen["zh", "good"] > 10 and seen["en", "good"] > 10
    assert seen["zh", "bad"] > 0 and seen["en", "bad"] > 0
    assert len({r["text"] for r in events if r["kind"] == "review"}) > 50  # variety


def test_more_sessions_at_weekends(events):
    views = Counter(_when(r).weekday() for r in events if r["kind"] == "view")
    days_of = Counter((CONFIG.start + timedelta(days=d)).weekday() for d in range(CONFIG.n_days))
    per_day = {wd: views[wd] / days_of[wd] for wd in range(7)}

    weekend = (per_day[5] + per_day[6]) / 2
    weekday = sum(per_day[d] for d in range(5)) / 5
    assert weekend > 1.15 * weekday


def test_more_sessions_in_the_holiday_season():
    config = SyntheticConfig(n_customers=150, n_products=60, n_days=365, seed=3, churn_rate=0.0)
    rows = SyntheticDataset(config).interactions()
    by_month = Counter(_when(r).month for r in rows if r["kind"] == "view")

    assert by_month[12] > 1.4 * by_month[7]
    assert by_month[11] > by_month[9]


def test_churned_customers_go_quiet_and_new_ones_start_at_sign_up(dataset, events):
    last, first = {}, {}
    for row in events:
        i = _index(row["customer"])
        first.setdefault(i, _when(row))
        last[i] = _when(row)
    churn, signup = dataset.customer_churn_day, dataset.customer_signup_day

    churned = [i for i in last if np.isfinite(churn[i])]
    assert 0.15 < np.isfinite(churn).mean() < 0.45
    assert len(churned) > 30
    for i in churned:
        assert last[i] < CONFIG.start + timedelta(days=float(churn[i]))
    late = [i for i in first if signup[i] > 0]
    assert len(late) > 30
    for i in late:
        assert first[i] >= CONFIG.start + timedelta(days=float(signup[i]))


def test_popular_products_get_most_of_the_views(events):
    views = Counter(r["product"] for r in events if r["kind"] == "view")
    counts = sorted(views.values(), reverse=True)

    assert sum(counts[: len(counts) // 10]) > 0.4 * sum(counts)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_generate_data_writes_files_the_validators_accept(tmp_path, fmt):
    call_command(
        "generate_data",
        str(tmp_path),
        customers=20,
        products=15,
        days=20,
        seed=2,
        format=fmt,
        verbosity=0,
        stdout=StringIO(),
    )
    expected = SyntheticDataset(SyntheticConfig(n_customers=20, n_products=15, n_days=20, seed=2))

    read = {}
    for name in ("customers", "products", "interactions"):
        with (tmp_path / f"{name}.{fmt}").open(encoding="utf-8", newline="") as handle:
            if fmt == "csv":
                read[name] = list(csv.DictReader(handle))
            else:
                read[name] = [json.loads(line) for line in handle]
    for row in read["customers"]:
        if fmt == "csv":
            row["attributes"] = json.loads(row["attributes"])
        validate_customer(row)
    for row in read["products"]:
        if fmt == "csv":
            row["attributes"] = json.loads(row["attributes"])
        assert validate_product(row)["tags"]
    for row in read["interactions"]:
        validate_interaction(row, now=expected.config.end)
    assert len(read["interactions"]) == len(list(expected.interactions()))
    assert len(read["products"]) == 15


def test_load_demo_data_stores_the_generated_dataset_once(db):
    tenant = TenantFactory(slug="synth")
    other = TenantFactory(slug="bystander")
    options = {"customers": 40, "products": 25, "days": 30, "seed": 5, "verbosity": 0}
    expected = SyntheticDataset(SyntheticConfig(n_customers=40, n_products=25, n_days=30, seed=5))
    n_events = sum(1 for _ in expected.interactions())

    out = StringIO()
    call_command("load_demo_data", "synth", stdout=out, **options)
    call_command("load_demo_data", "synth", stdout=StringIO(), **options)  # again: no change

    with tenant_scope(tenant):
        assert Customer.objects.count() == 40
        assert Product.objects.count() == 25
        assert Interaction.objects.count() == n_events
        assert Interaction.objects.filter(kind="review").exclude(text="").exists()
    with tenant_scope(other):
        assert Interaction.objects.count() == 0
    assert f"{n_events:,} interactions" in out.getvalue()
