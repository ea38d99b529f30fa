"""Money helpers: ISO 4217 exponents, strict integer amounts, conversions without floats."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.lib import money


def test_exponents_follow_iso_4217():
    assert money.currency_exponent("usd") == 2
    assert money.currency_exponent("JPY") == 0
    assert money.currency_exponent("KWD") == 3


@pytest.mark.parametrize("raw, expected", [(1050, 1050), ("1050", 1050), (money.MAX_AMOUNT, money.MAX_AMOUNT)])
def test_it_accepts_integers_and_digit_strings(raw, expected):
    assert money.parse_amount(raw) == expected


@pytest.mark.parametrize(
    "raw, message",
    [
        (10.5, "not a decimal"),
        (10.0, "not a decimal"),
        ("10.50", "integer number"),
        ("1e3", "integer number"),
        ("١٢٣", "integer number"),  # Arabic-Indic digits are digits to Python, not to us
        (-1, "negative"),
        ("-5", "negative"),
        (0, "greater than zero"),
        (money.MAX_AMOUNT + 1, "at most"),
        ("9" * 40, "at most"),
        (True, "boolean"),
        (None, "integer number"),
        ([], "integer number"),
    ],
)
def test_it_refuses_anything_else(raw, message):
    with pytest.raises(money.MoneyError, match=message):
        money.parse_amount(raw)


def test_zero_is_allowed_only_when_asked():
    assert money.parse_amount(0, allow_zero=True) == 0


@pytest.mark.parametrize("code", ["", "US", "usdd", "XXX", "€", None, 840])
def test_unknown_currencies_are_refused(code):
    with pytest.raises(money.MoneyError):
        money.normalize_currency(code)


def test_conversion_respects_both_exponents_and_rounds_half_even():
    assert money.convert(100000, source="JPY", target="USD", rate=Decimal("0.0067")) == 67000
    assert money.convert(10000, source="USD", target="KWD", rate=Decimal("0.3075")) == 30750
    assert money.convert(10000, source="USD", target="JPY", rate=Decimal("151.505")) == 15150  # 15150.5 -> even
    assert money.convert(10000, source="USD", target="JPY", rate=Decimal("151.515")) == 15152  # 15151.5 -> even


def test_formatting_uses_the_minor_unit():
    assert money.format_money(1050, "usd") == "10.50 USD"
    assert money.format_money(1050, "JPY") == "1,050 JPY"
    assert money.format_money(1, "KWD") == "0.001 KWD"
