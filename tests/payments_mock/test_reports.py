"""Reports over the ledger: revenue, refund rate, cash flow and top customers, JSON and CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from payments_mock.models import Transaction


@pytest.fixture
def history(api, pay):
    ada = api("post", "/api/v1/customers", {"name": "Ada", "email": "ada@example.com"}).json()["id"]
    bob = api("post", "/api/v1/customers", {"name": "Bob", "email": "bob@example.com"}).json()["id"]
    first = pay(amount=10000, customer=ada)
    pay(amount=4000, customer=bob)
    pay(amount=3000, customer=bob)
    pay(amount=2000, currency="eur", customer=ada)
    pay("4000000000000002", amount=99999, customer=ada)  # declined: no money moved
    api("post", "/api/v1/refunds", {"payment": first["id"], "amount": 2500})
    # Move the EUR payment to yesterday, so days and periods differ.
    yesterday = timezone.now() - timedelta(days=1)
    Transaction.objects.filter(currency="EUR").update(created_at=yesterday)
    return {"ada": ada, "bob": bob}


def _report(api, name, query=""):
    response = api("get", f"/api/v1/reports/{name}?{query}")
    assert response.status_code == 200, response.content
    return response.json()


def test_revenue_by_day_and_currency(api, history):
    rows = _report(api, "revenue")["data"]
    usd = next(r for r in rows if r["currency"] == "USD")
    assert (usd["charges"], usd["gross"], usd["refunds"]) == (3, 17000, 2500)
    assert usd["fees"] == 290 + 116 + 87
    assert usd["net"] == 17000 - 2500 - usd["fees"]
    eur = next(r for r in rows if r["currency"] == "EUR")
    assert eur["date"] < usd["date"] and eur["gross"] == 2000


def test_refund_rate_per_currency(api, history):
    rows = {r["currency"]: r for r in _report(api, "refunds")["data"]}
    assert rows["USD"]["refund_rate"] == round(2500 / 17000, 4)
    assert (rows["USD"]["charges"], rows["USD"]["refunds"]) == (3, 1)
    assert rows["EUR"]["refund_rate"] == 0


def test_cash_flow_per_period(api, history):
    daily = _report(api, "cash_flow", "currency=usd")["data"]
    assert len(daily) == 1
    assert daily[0]["in"] == 17000 and daily[0]["out"] == 2500 + 290 + 116 + 87
    assert daily[0]["net"] == daily[0]["in"] - daily[0]["out"]
    monthly = _report(api, "cash_flow", "period=month")["data"]
    assert {r["currency"] for r in monthly} == {"USD", "EUR"}


def test_top_customers_net_of_refunds(api, history):
    rows = _report(api, "top_customers", "currency=usd")["data"]
    assert [(r["customer"], r["net"]) for r in rows] == [(history["ada"], 7500), (history["bob"], 7000)]
    assert _report(api, "top_customers", "limit=1")["data"][0]["customer"] == history["ada"]


def test_reports_download_as_csv(api, history):
    response = api("get", "/api/v1/reports/revenue?file_format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {r["currency"] for r in rows} == {"USD", "EUR"}


def test_the_date_range_limits_the_report(api, history):
    today = timezone.now().date()
    rows = _report(api, "revenue", f"date_from={today}&date_to={today}")["data"]
    assert {r["currency"] for r in rows} == {"USD"}


@pytest.mark.parametrize(
    "path, field",
    [
        ("revenue?date_from=2026-02-01&date_to=2026-01-01", "date_from"),
        ("revenue?date_from=2020-01-01&date_to=2026-01-01", "date_from"),
        ("revenue?currency=XYZ", "currency"),
        ("revenue?date_from=9999-12-30&date_to=9999-12-31", "date_to"),
        ("revenue?date_to=0001-01-01", "date_to"),
        ("cash_flow?period=hour", "period"),
        ("top_customers?limit=1000", "limit"),
    ],
)
def test_bad_report_queries_are_field_errors(api, path, field):
    response = api("get", f"/api/v1/reports/{path}")
    assert response.status_code == 400 and field in response.json()["errors"]


def test_an_unknown_report_is_a_404(api):
    assert api("get", "/api/v1/reports/profit").status_code == 404


@pytest.mark.parametrize("name", ["revenue", "refunds", "cash_flow", "top_customers"])
def test_reports_see_only_the_callers_organisation_and_mode(call, api, history, live_key, outsider_key, name):
    assert _report(api, name)["data"]
    assert call("get", f"/api/v1/reports/{name}", key=live_key).json()["data"] == []
    assert call("get", f"/api/v1/reports/{name}", key=outsider_key).json()["data"] == []
