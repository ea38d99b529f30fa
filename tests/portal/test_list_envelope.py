"""The list envelope's `meta.total`: exact up to `COUNT_CAP` rows, capped (and flagged) beyond."""

from __future__ import annotations

import pytest
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from payments_mock.models import Customer
from portal import api
from tests.factories import make_org

pytestmark = pytest.mark.django_db


@pytest.fixture
def customers():
    org = make_org("Envelope")
    Customer.objects.bulk_create(Customer(organization=org, name=f"c{i}") for i in range(7))
    return Customer.objects.filter(organization=org).order_by("name", "-pk")


def _page(queryset, query: str = "") -> dict:
    request = Request(APIRequestFactory().get(f"/api/v1/customers?{query}"))
    return api.paginated(request, queryset, lambda rows: [{"id": row.name} for row in rows])


def test_under_the_cap_the_total_is_exact_and_the_envelope_unchanged(customers, monkeypatch):
    monkeypatch.setattr(api, "COUNT_CAP", 7)
    body = _page(customers, "per_page=3&page=3")
    assert body["meta"] == {"page": 3, "per_page": 3, "total": 7, "total_pages": 3}
    assert [row["id"] for row in body["data"]] == ["c6"]
    assert body["links"]["next"] is None and body["links"]["last"].endswith("page=3&per_page=3")


def test_beyond_the_cap_the_total_is_the_cap_and_flagged(customers, monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(api, "COUNT_CAP", 4)
    with django_assert_num_queries(2):
        body = _page(customers, "per_page=2")
    assert body["meta"] == {"page": 1, "per_page": 2, "total": 4, "total_pages": 2, "total_is_capped": True}
    assert body["links"]["last"].endswith("page=2&per_page=2")


def test_pages_past_the_cap_are_still_served_until_the_rows_run_out(customers, monkeypatch):
    monkeypatch.setattr(api, "COUNT_CAP", 4)
    seen, page = [], 1
    while page is not None:
        body = _page(customers, f"per_page=2&page={page}")
        seen += [row["id"] for row in body["data"]]
        page = page + 1 if body["links"]["next"] else None
    assert seen == [f"c{i}" for i in range(7)]
    assert body["meta"]["page"] == 4 and body["links"]["prev"].endswith("page=3&per_page=2")
