"""File import of interactions, customers and products, as an operator running the
import commands sees it: every good row stored once, every bad row in the rejects file
with its reason, and nothing outside the tenant touched. Runs on SQLite (bulk services)
and on PostgreSQL (COPY through a staging table, as the RLS-bound app role)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from customers.ingest.files import ImportInputError, import_file
from customers.ingest.pg_copy import fast_staged_row, staged_row
from customers.ingest.validation import FUTURE_TOLERANCE, RowError, validate_interaction
from customers.models import Customer, Interaction, Product
from tenants.context import tenant_scope
from tests.factories import CustomerFactory, InteractionFactory, ProductFactory

ON_POSTGRES = django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
HEADER = "event_id,customer,product,kind,value,text,occurred_at"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    data = content.encode() if isinstance(content, str) else content
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def rejects_of(path: Path) -> list[dict]:
    rejects = Path(f"{path}.rejects.jsonl")
    return [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]


def events(tenant) -> dict[str, Interaction]:
    with tenant_scope(tenant):
        return {
            i.event_id: i for i in Interaction.objects.select_related("customer", "product").all()
        }


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, "--no-progress", stdout=out)
    return out.getvalue()


# --- interactions ------------------------------------------------------------------


def test_csv_import_stores_every_row_and_creates_unknown_customers_and_products(tenant_a, tmp_path):
    # Given a customer the tenant already has, and a file naming it and new ones
    CustomerFactory(tenant=tenant_a, external_id="c1", email="c1@example.com")
    path = write(
        tmp_path,
        "events.csv",
        f"{HEADER}\n"
        "e1,c1,p1,view,,,2026-01-01T10:00:00Z\n"
        "e2,c2,p1,purchase,19.5,,2026-01-02T11:30:00+02:00\n"
        'e3,c2,p2,review,,"Great, \\ fits\twell",2026-01-03 08:00:00\n'
        "e4,c3,,purchase,5,,2026-01-04T00:00:00Z\n",
    )

    # When the file is imported
    report = import_file(tenant=tenant_a, path=path, kind="interactions", progress=False)

    # Then every row is stored, with the new customers and products created on the way
    assert (report.rows_read, report.created, report.duplicates, report.rejected) == (4, 4, 0, 0)
    assert (report.customers_created, report.products_created) == (2, 2)
    stored = events(tenant_a)
    assert stored["e1"].customer.email == "c1@example.com"
    assert stored["e2"].value == 19.5
    assert stored["e2"].occurred_at == datetime(2026, 1, 2, 9, 30, tzinfo=UTC)
    assert stored["e3"].text == "Great, \\ fits\twell"
    assert stored["e3"].occurred_at == datetime(2026, 1, 3, 8, tzinfo=UTC)  # naive is UTC
    assert stored["e4"].product is None
    assert {e.customer.external_id for e in stored.values()} == {"c1", "c2", "c3"}
    assert rejects_of(path) == []


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRES, reason="the COPY path is PostgreSQL's")
def test_on_postgresql_interactions_go_through_copy_as_the_rls_bound_role(tenant_a, tmp_path):
    # Given the app role, which PostgreSQL refuses COPY FROM into an RLS table
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolbypassrls, rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)
    path = write(tmp_path, "events.csv", f"{HEADER}\ne1,c1,p1,view,,,2026-01-01T00:00:00Z\n")

    # When a file is imported, Then it is staged with COPY and stored
    with CaptureQueriesContext(connection) as queries:
        report = import_file(tenant=tenant_a, path=path, kind="interactions", progress=False)
    assert report.created == 1
    assert any("CREATE TEMP TABLE" in q["sql"] for q in queries.captured_queries)


def test_importing_the_same_file_twice_stores_nothing_new(tenant_a, tmp_path):
    # Given a file already imported once
    lines = [f"e{n},c{n % 3},p{n % 2},click,,,2026-02-0{n % 9 + 1}T12:00:00Z" for n in range(10)]
    path = write(tmp_path, "events.csv", "\n".join([HEADER, *lines]) + "\n")
    first = import_file(tenant=tenant_a, path=path, kind="interactions", progress=False)

    # When it is imported again, in small chunks this time
    again = import_file(
        tenant=tenant_a, path=path, kind="interactions", progress=False, chunk_size=3
    )

    # Then the second run reports every row as a duplicate and stores nothing
    assert (first.created, first.customers_created, first.products_created) == (10, 3, 2)
    assert (again.created, again.duplicates, again.customers_created) == (0, 10, 0)
    assert again.chunks == 4
    assert len(events(tenant_a)) == 10


def test_a_rerun_after_a_partial_import_completes_the_rest(tenant_a, tmp_path):
    # Given the first chunk of a file was stored before the import stopped
    lines = [f"e{n},c{n},p1,view,,,2026-03-01T00:00:00Z" for n in range(7)]
    head = write(tmp_path, "head.csv", "\n".join([HEADER, *lines[:3]]) + "\n")
    import_file(tenant=tenant_a, path=head, kind="interactions", progress=False)

    # When the whole file is imported
    path = write(tmp_path, "all.csv", "\n".join([HEADER, *lines]) + "\n")
    report = import_file(
        tenant=tenant_a, path=path, kind="interactions", progress=False, chunk_size=2
    )

    # Then the rest is stored and the first part counted as duplicates
    assert (report.created, report.duplicates) == (4, 3)
    assert sorted(events(tenant_a)) == [f"e{n}" for n in range(7)]


def test_a_repeated_event_id_in_one_file_keeps_the_first_row(tenant_a, tmp_path):
    path = write(
        tmp_path,
        "events.csv",
        f"{HEADER}\ne1,c1,p1,view,,,2026-01-01T00:00:00Z\ne1,c2,p2,click,,,2026-01-02T00:00:00Z\n",
    )

    report = import_file(tenant=tenant_a, path=path, kind="interactions", progress=False)

    assert (report.created, report.duplicates) == (1, 1)
    assert events(tenant_a)["e1"].kind == "view"


def test_bad_rows_go_to_the_rejects_file_and_never_cost_a_good_row(tenant_a, tmp_path):
    # Given a file where good rows sit among bad ones of every sort
    content = (
        f"{HEADER}\n"
        "g1,c1,p1,view,,,2026-01-01T00:00:00Z\n"  # line 2
        "b1,c1,p1,teleport,,,2026-01-01T00:00:00Z\n"  # 3: unknown kind
        ",c1,p1,view,,,2026-01-01T00:00:00Z\n"  # 4: no event id
        "b3,c1,p1,rating,7,,2026-01-01T00:00:00Z\n"  # 5: rating out of range
        "b4,c1,p1,view,,,2999-01-01T00:00:00Z\n"  # 6: in the future
        "b5,c1,p1,view,,,yesterday\n"  # 7: not a date
        "b6,c1,p1,view\n"  # 8: too few columns
        'g2,c2,p1,review,,"two\nlines",2026-01-02T00:00:00Z\n'  # 9-10: quoted newline
        "b7,c1,p1,click,,,2026-01-01T00:00:00Z,extra\n"  # 11: too many columns
        "b8,c1,,view,,,2026-01-01T00:00:00Z\n"  # 12: a view needs a product
        "b9,c1,p1,purchase,-3,,2026-01-01T00:00:00Z\n"  # 13: negative amount
        "g3, c3 ,p1,purchase,12,,2026-01-03T00:00:00Z\n"  # 14: ids are stripped
        "g4,c\u00e9,p\\1,view,,,2026-01-04T00:00:00Z\n"  # 15: non-ASCII, backslash
    ).encode()
    content += b"b10,c\xff,p1,view,,,2026-01-01T00:00:00Z\n"  # 16: not UTF-8
    content += b"g5,c5,p5,add_to_cart,,,2026-01-05T00:00:00\n"  # 17
    path = write(tmp_path, "mixed.csv", content)

    # When it is imported in chunks smaller than the file
    report = import_file(
        tenant=tenant_a, path=path, kind="interactions", progress=False, chunk_size=4
    )

    # Then every good row is stored and every bad one is in the rejects file, with why
    assert sorted(events(tenant_a)) == ["g1", "g2", "g3", "g4", "g5"]
    assert events(tenant_a)["g2"].text == "two\nlines"
    assert events(tenant_a)["g3"].customer.external_id == "c3"
    assert events(tenant_a)["g4"].product.external_id == "p\\1"
    assert (report.rows_read, report.created, report.rejected) == (15, 5, 10)
    rejects = rejects_of(path)
    assert [(r["line"], r["field"]) for r in rejects] == [
        (3, "kind"),
        (4, "event_id"),
        (5, "value"),
        (6, "occurred_at"),
        (7, "occurred_at"),
        (8, "__row__"),
        (11, "__row__"),
        (12, "product"),
        (13, "value"),
        (16, "__row__"),
    ]
    by_line = {r["line"]: r for r in rejects}
    assert by_line[3]["row"]["kind"] == "teleport"
    assert by_line[5]["reason"] == "a rating must be a whole number from 1 to 5"
    assert by_line[6]["reason"] == "is in the future"
    assert by_line[8]["reason"] == "has 4 columns, the header has 7"
    assert by_line[16]["reason"] == "contains bytes that are not valid UTF-8"
    assert by_line[16]["row"]["customer"] == "c\\xff"


def test_jsonl_gz_import_rejects_malformed_lines_and_skips_blank_ones(tenant_a, tmp_path):
    rows = [
        {"event_id": "j1", "customer": "c1", "product": "p1", "kind": "rating", "value": 4,
         "occurred_at": "2026-01-01T00:00:00Z"},
        {"event_id": 2, "customer": "c1", "kind": "purchase", "value": 9.99,
         "occurred_at": "2026-01-02T00:00:00Z"},
    ]  # fmt: skip
    content = "\n".join(
        [
            json.dumps(rows[0]),
            "",
            "{not json",
            "[1, 2]",
            json.dumps({**rows[0], "event_id": "j3", "kind": "nope"}),
            json.dumps(rows[1]),
        ]
    )
    path = write(tmp_path, "events.ndjson.gz", content + "\n")

    report = import_file(tenant=tenant_a, path=path, kind="interactions", progress=False)

    assert (report.rows_read, report.created, report.rejected) == (5, 2, 3)
    stored = events(tenant_a)
    assert stored["j1"].value == 4.0 and stored["2"].value == 9.99
    rejects = rejects_of(path)
    assert [(r["line"], r["field"]) for r in rejects] == [
        (3, "__row__"),
        (4, "__row__"),
        (5, "kind"),
    ]
    assert rejects[0]["row"] == "{not json"
    assert rejects[0]["reason"].startswith("is not valid JSON")
    assert rejects[1]["reason"] == "must be a JSON object"


def test_interactions_import_into_one_tenant_never_touches_another(tenant_a, tenant_b, tmp_path):
    # Given tenant A has customers, products and events with the ids B's file uses
    InteractionFactory(
        tenant=tenant_a,
        event_id="e1",
        customer=CustomerFactory(tenant=tenant_a, external_id="c1", email="a@example.com"),
        product=ProductFactory(tenant=tenant_a, external_id="p1", title="A's"),
    )
    path = write(tmp_path, "b.csv", f"{HEADER}\ne1,c1,p1,click,,,2026-01-01T00:00:00Z\n")

    # When B imports it
    report = import_file(tenant=tenant_b, path=path, kind="interactions", progress=False)

    # Then B gets its own rows, and A's are as they were
    assert (report.created, report.duplicates, report.customers_created) == (1, 0, 1)
    assert events(tenant_b)["e1"].kind == "click"
    assert events(tenant_a)["e1"].kind == "purchase"
    with tenant_scope(tenant_a):
        assert Customer.objects.get().email == "a@example.com"
        assert Product.objects.get().title == "A's"
        assert Interaction.objects.count() == 1
    with tenant_scope(tenant_b):
        assert Customer.objects.get().email == ""


# --- customers and products ----------------------------------------------------------


def test_customers_import_upserts_on_external_id(tenant_a, tenant_b, tmp_path):
    # Given a customer in A, and one with the same id in B
    CustomerFactory(tenant=tenant_a, external_id="c1", email="old@example.com")
    CustomerFactory(tenant=tenant_b, external_id="c1", email="b@example.com")
    path = write(
        tmp_path,
        "customers.csv",
        "external_id,email,attributes,email_opt_in\n"
        'c1,new@example.com,"{""tier"": ""gold""}",yes\n'
        "c2,,,\n"
        "c3,not-an-email,,\n"
        'c4,,"{broken",\n'
        "c5,c5@example.com,,no\n",
    )

    # When A imports the file
    out = run("import_customers", tenant_a.slug, str(path))

    # Then c1 is updated, new ones created, bad rows rejected; B is untouched
    assert "created                       2" in out and "updated                       1" in out
    with tenant_scope(tenant_a):
        customers = {c.external_id: c for c in Customer.objects.all()}
    assert sorted(customers) == ["c1", "c2", "c5"]
    assert customers["c1"].email == "new@example.com"
    assert customers["c1"].attributes == {"tier": "gold"} and customers["c1"].email_opt_in
    assert customers["c2"].email == "" and customers["c5"].email_opt_in is False
    assert [(r["line"], r["field"]) for r in rejects_of(path)] == [(4, "email"), (5, "attributes")]
    with tenant_scope(tenant_b):
        assert Customer.objects.get().email == "b@example.com"


def test_an_empty_csv_cell_leaves_the_stored_value_alone(tenant_a, tmp_path):
    CustomerFactory(tenant=tenant_a, external_id="c1", email="keep@example.com")
    path = write(tmp_path, "customers.csv", "external_id,email,email_opt_in\nc1,,false\n")

    report = import_file(tenant=tenant_a, path=path, kind="customers", progress=False)

    assert (report.created, report.updated) == (0, 1)
    with tenant_scope(tenant_a):
        customer = Customer.objects.get()
    assert customer.email == "keep@example.com" and customer.email_opt_in is False


def test_a_spreadsheet_export_with_bom_and_crlf_imports(tenant_a, tmp_path):
    content = "\ufeffexternal_id,email\r\nc1,c1@example.com\r\nc2,c2@example.com\r\n"
    path = write(tmp_path, "customers.CSV", content)

    report = import_file(tenant=tenant_a, path=path, kind="customers", progress=False)

    assert (report.created, report.rejected) == (2, 0)
    with tenant_scope(tenant_a):
        assert Customer.objects.get(external_id="c2").email == "c2@example.com"


def test_products_import_from_csv_and_jsonl(tenant_a, tmp_path):
    # Given an existing product and two files
    ProductFactory(tenant=tenant_a, external_id="p1", title="Old", price="5.00")
    csv_path = write(
        tmp_path,
        "products.csv",
        "external_id,title,category,price,tags,is_active\n"
        "p1,Runner,shoes,49.90,sale|new,\n"
        "p2,Sock,,-1,,\n"
        "p3,Cap,hats,,summer,false\n",
    )
    jsonl_path = write(
        tmp_path,
        "products.jsonl",
        json.dumps({"external_id": "p4", "title": "Belt", "tags": ["leather"], "price": 20})
        + "\n"
        + json.dumps({"external_id": "p1", "attributes": {"colour": "red"}})
        + "\n",
    )

    # When both are imported
    first = import_file(tenant=tenant_a, path=csv_path, kind="products", progress=False)
    second = import_file(tenant=tenant_a, path=jsonl_path, kind="products", progress=False)

    # Then the products are upserted field by field and the bad price rejected
    assert (first.created, first.updated, first.rejected) == (1, 1, 1)
    assert (second.created, second.updated) == (1, 1)
    with tenant_scope(tenant_a):
        products = {p.external_id: p for p in Product.objects.all()}
    assert products["p1"].title == "Runner" and products["p1"].price == Decimal("49.90")
    assert products["p1"].tags == ["sale", "new"] and products["p1"].attributes == {"colour": "red"}
    assert products["p3"].is_active is False and products["p3"].price is None
    assert products["p4"].tags == ["leather"]
    assert rejects_of(csv_path)[0]["field"] == "price"


# --- the commands ---------------------------------------------------------------------


def test_command_prints_the_report_and_writes_rejects_where_asked(tenant_a, tmp_path):
    path = write(
        tmp_path, "e.csv", f"{HEADER}\ne1,c1,p1,view,,,2026-01-01T00:00:00Z\ne2,c1,p1,x,,,\n"
    )
    rejects = tmp_path / "out" / "bad.jsonl"
    rejects.parent.mkdir()

    out = run("import_interactions", tenant_a.slug, str(path), "--rejects", str(rejects))

    assert "rows read                     2" in out and "rejected                      1" in out
    assert json.loads(rejects.read_text())["field"] == "kind"


@pytest.mark.parametrize(
    "slug, name, message",
    [
        ("nobody", "e.csv", "No tenant 'nobody'"),
        ("tenant-a", "missing.csv", "No such file"),
        ("tenant-a", "e.xlsx", "unknown format"),
        ("tenant-a", "noheader.csv", "the CSV header lacks"),
        ("tenant-a", "broken.csv.gz", "read failed"),
    ],
)
def test_command_fails_only_for_unusable_input(tenant_a, tmp_path, slug, name, message):
    write(tmp_path, "e.csv", f"{HEADER}\n")
    write(tmp_path, "e.xlsx", "")
    write(tmp_path, "noheader.csv", "e1,c1,p1,view,,,2026-01-01T00:00:00Z\n")
    (tmp_path / "broken.csv.gz").write_bytes(b"not gzip at all")

    with pytest.raises(CommandError, match=message):
        run("import_interactions", slug, str(tmp_path / name))


def test_import_file_refuses_an_unknown_extension(tenant_a, tmp_path):
    with pytest.raises(ImportInputError):
        import_file(tenant=tenant_a, path=tmp_path / "x.txt", kind="customers", progress=False)


# --- the fast CSV path agrees with the shared validator --------------------------------

NOW = datetime(2026, 6, 1, tzinfo=UTC)
FIELDS = ("event_id", "customer", "product", "kind", "value", "text", "occurred_at")


def agree(cells: tuple[str, ...]) -> None:
    """The fast path either defers, or accepts exactly what the validator accepts."""
    fast = fast_staged_row(*cells, NOW + FUTURE_TOLERANCE)
    row = {field: cell for field, cell in zip(FIELDS, cells, strict=True) if cell != ""}
    try:
        expected = staged_row(validate_interaction(row, now=NOW))
    except RowError:
        assert fast is None, f"fast path accepted a row the validator rejects: {cells}"
        return
    assert fast is None or fast == expected


GOOD = [
    ("e1", "c1", "p1", "view", "", "", "2026-01-01T00:00:00Z"),
    ("e2", "c1", "", "purchase", "12.50", "", "2026-01-01T10:00:00+05:30"),
    ("e3", "c1", "p1", "rating", "5", "tab\there\\", "2026-01-01"),
    ("e4", "c1", "p1", "review", "", "multi\r\nline", "2026-05-31T12:00:00.123456"),
    ("e5", "c" * 128, "p1", "add_to_cart", "1e3", "", "20260101T000000Z"),
]
BAD = [
    ("e1", "c1", "p1", "View", "", "", "2026-01-01T00:00:00Z"),
    ("", "c1", "p1", "view", "", "", "2026-01-01T00:00:00Z"),
    ("e1", "", "p1", "view", "", "", "2026-01-01T00:00:00Z"),
    ("e1", "c1", "", "click", "", "", "2026-01-01T00:00:00Z"),
    ("e1", "c" * 129, "p1", "view", "", "", "2026-01-01T00:00:00Z"),
    ("e1", "c1", "p1", "rating", "", "", "2026-01-01T00:00:00Z"),
    ("e1", "c1", "p1", "rating", "4.5", "", "2026-01-01T00:00:00Z"),
    ("e1", "c1", "p1", "rating", "0", "", "2026-01-01T00:00:00Z"),
    ("e1", "c1", "p1", "purchase", "-0.01", "", "2026-01-01T00:00:00Z"),
    ("e1", "c1", "p1", "view", "nan", "", "2026-01-01T00:00:00Z"),
    ("e1", "c1", "p1", "view", "inf", "", "2026-01-01T00:00:00Z"),
    ("e1", "c1", "p1", "view", "ten", "", "2026-01-01T00:00:00Z"),
    ("e1", "c1", "p1", "view", "", "x" * 10_001, "2026-01-01T00:00:00Z"),
    ("e1", "c1", "p1", "view", "", "nul\x00", "2026-01-01T00:00:00Z"),
    ("e1", "c1", "p1", "view", "", "", ""),
    ("e1", "c1", "p1", "view", "", "", "2026-13-01T00:00:00Z"),
    ("e1", "c1", "p1", "view", "", "", "2026-06-03T00:00:00Z"),
    ("e\t1", "c1", "p1", "view", "", "", "2026-01-01T00:00:00Z"),
    ("e1", "c\x001", "p1", "view", "", "", "2026-01-01T00:00:00Z"),
    ("   ", "c1", "p1", "view", "", "", "2026-01-01T00:00:00Z"),
    ("e1", "c1", "p1", "purchase", "2e12", "", "2026-01-01T00:00:00Z"),
    ("e1", "c1", "p1", "review", "", "lone \udc80", "2026-01-01T00:00:00Z"),
    ("e1", "c1", "p1", "view", "", "", "0001-01-01T00:00:00+01:00"),
]


@pytest.mark.parametrize("cells", GOOD)
def test_fast_path_accepts_ordinary_good_rows_as_the_validator_does(cells):
    assert fast_staged_row(*cells, NOW + FUTURE_TOLERANCE) is not None
    agree(cells)


@pytest.mark.parametrize("cells", BAD)
def test_fast_path_never_accepts_a_bad_row(cells):
    assert fast_staged_row(*cells, NOW + FUTURE_TOLERANCE) is None
    agree(cells)


_tricky = st.text(
    alphabet=st.sampled_from("ab1-_ .\\\t\n\r\x00\x0b\u00e9\u3000\udc80Z:+"), max_size=6
)


@settings(max_examples=400, deadline=None)
@given(
    ids=st.tuples(_tricky, _tricky, _tricky),
    kind=st.sampled_from(["view", "click", "add_to_cart", "purchase", "rating", "review", "x"]),
    value=st.one_of(
        st.sampled_from(["", "0", "1", "5", "5.0", "6", "-1", "1_0", " 2 ", "inf", "nan", "1e13"]),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
    ),
    text=_tricky,
    occurred_at=st.sampled_from(
        [
            "",
            "2026-01-01",
            "2026-01-01T00:00:00Z",
            " 2026-01-01T00:00:00Z ",
            "2026-01-01T00:00:00+14:00",
            "2026-01-01T00:00:00+00:00",
            "2026-W01-1T00:00:00+00:00",
            "2026-01-01t00:00:00+00:00",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00.000001Z",
            "0001-01-01T00:00:00+01:00",
            "2026-06-02T23:59:59Z",
            "2026-06-02T00:00:00+00:00:01",
            "2026-06-02T00:00:01",
            "20260101T000000",
            "2026-W01",
            "2026-01-01Z00:00",
            "nope",
        ]
    ),
)
def test_fast_path_agrees_with_the_shared_validator_on_any_row(ids, kind, value, text, occurred_at):
    agree((*ids, kind, value, text, occurred_at))
