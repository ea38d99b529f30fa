"""Money as integer minor units with an ISO 4217 currency code; never floats.

`CURRENCIES` maps each supported code to its minor-unit exponent (ISO 4217's
"minor unit" column): USD has 2 (cents), JPY 0, KWD 3. An amount on the wire is an
integer count of minor units: 1050 USD is $10.50, 1050 JPY is ¥1,050.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

# code -> (exponent, name)
CURRENCIES: dict[str, tuple[int, str]] = {
    "AED": (2, "UAE dirham"),
    "AUD": (2, "Australian dollar"),
    "BHD": (3, "Bahraini dinar"),
    "BRL": (2, "Brazilian real"),
    "CAD": (2, "Canadian dollar"),
    "CHF": (2, "Swiss franc"),
    "CLP": (0, "Chilean peso"),
    "CNY": (2, "Chinese yuan"),
    "CZK": (2, "Czech koruna"),
    "DKK": (2, "Danish krone"),
    "EUR": (2, "Euro"),
    "GBP": (2, "Pound sterling"),
    "HKD": (2, "Hong Kong dollar"),
    "HUF": (2, "Hungarian forint"),
    "IDR": (2, "Indonesian rupiah"),
    "INR": (2, "Indian rupee"),
    "ISK": (0, "Icelandic króna"),
    "JOD": (3, "Jordanian dinar"),
    "JPY": (0, "Japanese yen"),
    "KRW": (0, "South Korean won"),
    "KWD": (3, "Kuwaiti dinar"),
    "MXN": (2, "Mexican peso"),
    "NOK": (2, "Norwegian krone"),
    "NZD": (2, "New Zealand dollar"),
    "OMR": (3, "Omani rial"),
    "PLN": (2, "Polish złoty"),
    "SEK": (2, "Swedish krona"),
    "SGD": (2, "Singapore dollar"),
    "THB": (2, "Thai baht"),
    "TRY": (2, "Turkish lira"),
    "USD": (2, "US dollar"),
    "VND": (0, "Vietnamese đồng"),
    "ZAR": (2, "South African rand"),
}

# The largest amount accepted anywhere: 10^15 minor units (ten trillion dollars, a
# quadrillion yen). Big enough for any sandbox story, small enough that sums of many
# amounts stay far inside a 64-bit integer column.
MAX_AMOUNT = 10**15


class MoneyError(ValueError):
    """A malformed amount or an unknown currency; the message is safe to show the caller."""


def currency_exponent(code: str) -> int:
    return CURRENCIES[normalize_currency(code)][0]


def normalize_currency(code: object) -> str:
    """An upper-case ISO 4217 code we support, or MoneyError."""
    if not isinstance(code, str) or not code.strip():
        raise MoneyError("Give a three-letter ISO 4217 currency code.")
    upper = code.strip().upper()
    if upper not in CURRENCIES:
        raise MoneyError(f"{code!r} is not a supported ISO 4217 currency.")
    return upper


def parse_amount(value: object, *, allow_zero: bool = False) -> int:
    """An amount in minor units: a JSON integer (or an all-digit string), positive, at most MAX_AMOUNT.

    Floats and decimal strings are refused rather than rounded: 10.5 cents is not an amount.
    """
    if isinstance(value, bool):
        raise MoneyError("An amount is an integer number of minor units, not a boolean.")
    if isinstance(value, float):
        raise MoneyError("An amount is an integer number of minor units (e.g. 1050 for 10.50 USD), not a decimal.")
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or not text.lstrip("-").isdigit():
            raise MoneyError("An amount is an integer number of minor units (e.g. 1050 for 10.50 USD).")
        if len(text) > 20:
            raise MoneyError(f"An amount can be at most {MAX_AMOUNT} minor units.")
        value = int(text)
    if not isinstance(value, int):
        raise MoneyError("An amount is an integer number of minor units (e.g. 1050 for 10.50 USD).")
    if value < 0:
        raise MoneyError("An amount cannot be negative.")
    if value == 0 and not allow_zero:
        raise MoneyError("An amount must be greater than zero.")
    if value > MAX_AMOUNT:
        raise MoneyError(f"An amount can be at most {MAX_AMOUNT} minor units.")
    return value


@dataclass(frozen=True, slots=True)
class Money:
    amount: int  # minor units
    currency: str

    def to_decimal(self) -> Decimal:
        return to_major(self.amount, self.currency)

    def __str__(self) -> str:
        exponent = currency_exponent(self.currency)
        return f"{self.to_decimal():,.{exponent}f} {self.currency}"


def to_major(amount: int, currency: str) -> Decimal:
    """Minor units as an exact Decimal in major units (1050 USD -> Decimal('10.50'))."""
    exponent = currency_exponent(currency)
    return Decimal(amount).scaleb(-exponent)


def from_major(value: Decimal, currency: str) -> int:
    """A Decimal in major units, rounded half-even to the currency's minor unit."""
    exponent = currency_exponent(currency)
    return int(value.scaleb(exponent).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def convert(amount: int, *, source: str, target: str, rate: Decimal) -> int:
    """Convert minor units of `source` at `rate` (units of target per unit of source), half-even.

    The exponents differ between currencies, so 1000 JPY (¥1,000) at 0.0067 USD/JPY is
    670 cents, and 100 USD at 0.3075 KWD/USD is 30750 fils.
    """
    return from_major(to_major(amount, source) * rate, target)


def format_money(amount: int, currency: str) -> str:
    return str(Money(amount, normalize_currency(currency)))
