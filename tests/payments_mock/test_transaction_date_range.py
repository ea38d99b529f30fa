"""`date_from` / `date_to` are ranges on `created_at` (index-friendly) with whole-day bounds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from payments_mock.models import Transaction

LEDGER = "/api/v1/transactions"


@pytest.fixture
def edges(api, pay):
    pay(amount=1000)  # a charge and its fee
    first, second = Transaction.objects.order_by("pk")[:2]
    Transaction.objects.filter(pk=first.pk).update(created_at=datetime(2026, 3, 1, 0, 0, tzinfo=UTC))
    Transaction.objects.filter(pk=second.pk).update(created_at=datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC))


@pytest.mark.parametrize(
    "query, expected",
    [
        ("date_from=2026-03-01&date_to=2026-03-01", 2),
        ("date_from=2026-03-02", 0),
        ("date_to=2026-02-28", 0),
        ("date_from=0001-01-01&date_to=9999-12-31", 2),
    ],
)
def test_whole_days_are_inclusive_at_both_ends(api, edges, query, expected):
    response = api("get", f"{LEDGER}?{query}")
    assert response.status_code == 200 and response.json()["meta"]["total"] == expected
