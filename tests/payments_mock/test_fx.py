"""FX: deterministic simulated rates that move, spreads, conversion, history and 60-second quotes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from payments_mock import fx
from payments_mock.models import FxQuote, Transaction


def test_at_least_twenty_currencies_are_quoted(api):
    body = api("get", "/api/v1/fx/rates").json()
    assert body["base"] == "USD" and body["seed"] == fx.SEED
    assert len(body["rates"]) >= 20
    for row in body["rates"]:
        assert Decimal(row["bid"]) < Decimal(row["mid"]) < Decimal(row["ask"])


def test_rates_are_deterministic_for_an_instant():
    at = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert fx.rate("EUR", "JPY", at) == fx.rate("EUR", "JPY", at)


def test_rates_move_smoothly_and_realistically_over_time():
    start = datetime(2026, 3, 1, tzinfo=UTC)
    minute_later = fx.per_usd("EUR", start + timedelta(minutes=1)) / fx.per_usd("EUR", start)
    assert minute_later != 1 and abs(minute_later - 1) < 0.001
    series = [fx.per_usd("EUR", start + timedelta(days=d)) for d in range(120)]
    assert max(series) / min(series) > 1.01  # it does move over months
    assert max(series) / min(series) < 1.25  # but like a major pair, not a meme coin
    assert fx.per_usd("HKD", start) / fx.per_usd("HKD", start + timedelta(days=30)) == pytest.approx(1, abs=0.01)


def test_a_cross_rate_is_consistent_with_the_usd_legs():
    at = datetime(2026, 3, 1, tzinfo=UTC)
    cross = fx.rate("EUR", "GBP", at).mid
    legs = Decimal(fx.per_usd("GBP", at) / fx.per_usd("EUR", at))
    assert abs(cross - legs) / legs < Decimal("1e-8")


def test_historical_rates_are_the_days_fixing(api):
    body = api("get", "/api/v1/fx/rates?base=eur&date=2024-02-29").json()
    assert body["base"] == "EUR" and body["as_of"].startswith("2024-02-29T16:00:00")
    gbp = next(row for row in body["rates"] if row["currency"] == "GBP")
    expected = fx.rate("EUR", "GBP", datetime(2024, 2, 29, 16, tzinfo=UTC))
    assert Decimal(gbp["mid"]) == expected.mid
    again = api("get", "/api/v1/fx/rates?base=eur&date=2024-02-29").json()
    assert again == body


@pytest.mark.parametrize(
    "query, field",
    [
        ("base=XXX", "base"),
        ("base=BTC", "base"),
        ("date=1999-12-31", "date"),
        ("date=2024-02-30", "date"),
        ("date=2999-01-01", "date"),
    ],
)
def test_bad_rate_queries_are_field_errors(api, query, field):
    response = api("get", f"/api/v1/fx/rates?{query}")
    assert response.status_code == 400 and field in response.json()["errors"]


def test_convert_uses_the_bid_and_the_target_exponent(api):
    body = api("get", "/api/v1/fx/convert?source=usd&target=jpy&amount=10000").json()
    rate = Decimal(body["rate"])
    assert body["target_amount"] == int((Decimal(100) * rate).to_integral_value())
    assert rate < Decimal(body["mid_rate"])
    kwd = api("get", "/api/v1/fx/convert?source=usd&target=kwd&amount=10000").json()
    assert 25_000 < kwd["target_amount"] < 35_000  # fils: three decimals


@pytest.mark.parametrize(
    "query, field",
    [
        ("source=usd&target=eur&amount=-1", "amount"),
        ("source=usd&target=eur&amount=1.5", "amount"),
        ("source=usd&target=eur&amount=99999999999999999999", "amount"),
        ("source=usd&target=zzz&amount=100", "target"),
        ("source=&target=eur&amount=100", "source"),
    ],
)
def test_bad_conversions_are_field_errors(api, query, field):
    response = api("get", f"/api/v1/fx/convert?{query}")
    assert response.status_code == 400 and field in response.json()["errors"]


def test_a_quote_locks_the_rate_and_converts_once(api):
    quote = api("post", "/api/v1/fx/quotes", {"source": "EUR", "target": "GBP", "amount": 100000}).json()
    assert quote["id"].startswith("fxq_") and quote["used"] is False
    conversion = api("post", "/api/v1/fx/conversions", {"quote": quote["id"]})
    assert conversion.status_code == 201
    body = conversion.json()
    assert (body["rate"], body["target_amount"]) == (quote["rate"], quote["target_amount"])
    legs = Transaction.objects.filter(source_id=body["id"]).values_list("currency", "amount")
    assert sorted(legs) == sorted([("EUR", -100000), ("GBP", quote["target_amount"])])
    again = api("post", "/api/v1/fx/conversions", {"quote": quote["id"]})
    assert again.status_code == 409
    assert api("get", f"/api/v1/fx/quotes/{quote['id']}").json()["used"] is True


def test_an_expired_quote_cannot_be_used(api):
    quote = api("post", "/api/v1/fx/quotes", {"source": "USD", "target": "JPY", "amount": 5000}).json()
    assert quote["expires_at"] > quote["created_at"]
    FxQuote.objects.filter(public_id=quote["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api("post", "/api/v1/fx/conversions", {"quote": quote["id"]})
    assert response.status_code == 409
    assert response.json()["type"].endswith("/problems/quote-expired")


def test_a_quote_lasts_sixty_seconds():
    assert timedelta(seconds=60) == fx.QUOTE_TTL
