"""The ledger: an entry per money movement, searchable, and exported as a stream."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta
from xml.etree import ElementTree

import pytest
from django.utils import timezone

from payments_mock import xlsx
from payments_mock.models import Transaction

LEDGER = "/api/v1/transactions"


@pytest.fixture
def ledger(api, pay):
    customer = api("post", "/api/v1/customers", {"email": "ada@example.com", "name": "Ada"}).json()
    paid = pay(amount=10000, customer=customer["id"], description="=HYPERLINK(evil)")
    pay(amount=500, currency="eur")
    api("post", "/api/v1/refunds", {"payment": paid["id"], "amount": 2500})
    quote = api("post", "/api/v1/fx/quotes", {"source": "USD", "target": "JPY", "amount": 1000}).json()
    api("post", "/api/v1/fx/conversions", {"quote": quote["id"]})
    return {"customer": customer["id"], "payment": paid["id"]}


def test_every_money_movement_is_in_the_ledger(api, ledger):
    rows = api("get", f"{LEDGER}?per_page=100").json()["data"]
    kinds = sorted(row["kind"] for row in rows)
    assert kinds == ["charge", "charge", "fee", "fee", "fx_conversion", "fx_conversion", "refund"]
    assert all(row["id"].startswith("txn_") for row in rows)
    assert sum(row["amount"] for row in rows if row["currency"] == "usd") == 10000 - 290 - 2500 - 1000


@pytest.mark.parametrize(
    "query, expected",
    [
        ("kind=refund", 1),
        ("currency=EUR", 2),
        ("amount_gte=1000", 2),  # the 10000 charge and the yen leg
        ("amount_lte=-1000", 2),  # the refund and the dollar leg of the conversion
        ("amount_gte=-300&amount_lte=-1", 2),  # the two fees
        ("status=posted", 7),
        ("q=ada@example.com", 3),
        ("q=HYPERLINK", 1),
    ],
)
def test_search_by_kind_currency_amount_status_and_text(api, ledger, query, expected):
    assert api("get", f"{LEDGER}?{query}").json()["meta"]["total"] == expected


def test_search_by_customer_and_date(api, ledger):
    assert api("get", f"{LEDGER}?customer={ledger['customer']}").json()["meta"]["total"] == 3
    Transaction.objects.filter(kind="refund").update(created_at=timezone.now() - timedelta(days=40))
    day = (timezone.now() - timedelta(days=40)).date().isoformat()
    assert api("get", f"{LEDGER}?date_from={day}&date_to={day}").json()["meta"]["total"] == 1
    before = (timezone.now() - timedelta(days=30)).isoformat().replace("+00:00", "Z")
    assert api("get", f"{LEDGER}?created_lte={before}").json()["meta"]["total"] == 1


@pytest.mark.parametrize(
    "query, field",
    [
        ("amount_gte=1.5", "amount_gte"),
        ("amount_lte=lots", "amount_lte"),
        ("kind=bonus", "kind"),
        ("date_from=2026-13-01", "date_from"),
        ("sort=description:asc", "sort"),
    ],
)
def test_bad_filters_are_field_errors(api, query, field):
    response = api("get", f"{LEDGER}?{query}")
    assert response.status_code == 400 and field in response.json()["errors"]


def test_the_csv_export_streams_every_matching_row(api, ledger):
    response = api("get", f"{LEDGER}/export?file_format=csv&currency=usd&sort=amount:asc")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:5] == ["id", "created_at", "kind", "status", "amount"]
    assert [int(r[4]) for r in rows[1:]] == [-2500, -1000, -290, 10000]
    charge = next(r for r in rows if r[2] == "charge")
    assert charge[6] == ledger["customer"]
    assert charge[8] == "'=HYPERLINK(evil)"  # not a formula in a spreadsheet


def test_the_json_export_is_one_valid_document(api, ledger):
    response = api("get", f"{LEDGER}/export?file_format=json")
    data = json.loads(b"".join(response.streaming_content))
    assert len(data) == 7 and {row["kind"] for row in data} >= {"charge", "refund", "fee"}


def test_an_empty_export_is_still_valid(api):
    assert json.loads(b"".join(api("get", f"{LEDGER}/export?file_format=json").streaming_content)) == []
    assert b"".join(api("get", f"{LEDGER}/export").streaming_content).decode().startswith("id,created_at")


def test_an_unknown_export_format_is_a_field_error(api):
    assert "file_format" in api("get", f"{LEDGER}/export?file_format=pdf").json()["errors"]


def _xlsx_rows(content: bytes) -> list[list[str]]:
    namespace = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert {"[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml"} <= set(archive.namelist())
        sheet = ElementTree.fromstring(archive.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.iterfind(".//m:row", namespace):
        cells = []
        for cell in row.iterfind("m:c", namespace):
            value = cell.find("m:v", namespace)
            cells.append(value.text if value is not None else cell.find(".//m:t", namespace).text or "")
        rows.append(cells)
    return rows


def test_the_excel_export_is_a_valid_workbook(api, ledger):
    response = api("get", f"{LEDGER}/export?file_format=xlsx&sort=amount:asc&currency=usd")
    assert response["Content-Type"] == xlsx.MIME_TYPE and response.streaming
    rows = _xlsx_rows(b"".join(response.streaming_content))
    assert rows[0][:3] == ["id", "created_at", "kind"]
    assert [int(r[4]) for r in rows[1:]] == [-2500, -1000, -290, 10000]
    assert any(r[8] == "=HYPERLINK(evil)" for r in rows)  # an inline string, never a formula


def test_a_large_export_leaves_in_many_chunks(api, world):
    Transaction.objects.bulk_create(
        Transaction(
            organization=world.org, livemode=False, kind="charge", amount=i + 1, currency="USD", source_id=f"pay_{i}"
        )
        for i in range(1200)
    )
    for file_format in ("csv", "json", "xlsx"):
        chunks = list(api("get", f"{LEDGER}/export?file_format={file_format}").streaming_content)
        assert len(chunks) > 3, file_format  # produced as it goes, not built whole
    rows = _xlsx_rows(b"".join(api("get", f"{LEDGER}/export?file_format=xlsx").streaming_content))
    assert len(rows) == 1201
