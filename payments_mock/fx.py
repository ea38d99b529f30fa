"""Simulated FX rates: deterministic, moving over time, with a bid/ask spread.

There is no market feed (nothing outside the machine is reachable), so each currency's
price in US dollars is a function of time and the documented seed `SEED`:

    log(units per USD at t) = log(anchor)
                              + volatility * (0.6 sin(2πt/97d + φ1) + 0.3 sin(2πt/23d + φ2) + 0.1 sin(2πt/5d + φ3))
                              + volatility * 0.15 * noise(t)

where φ1..φ3 come from SHA-256(SEED, code) and noise is a piecewise-linear walk between
hourly knots, each knot a value in [-1, 1) from SHA-256(SEED, code, hour). The result
moves smoothly (minutes apart differ by a few hundredths of a percent), drifts by a few
percent over weeks like a real pair, and is identical on every machine for the same
instant. A cross rate is the ratio of the two USD prices. Dealing rates add a spread
around the mid: the customer sells at the bid and buys at the ask.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from portal.lib.money import CURRENCIES

SEED = "portal-sandbox-fx-v1"
QUOTE_TTL = timedelta(seconds=60)
FIXING_TIME = time(16, 0, tzinfo=UTC)  # historical rates are the 16:00 UTC fixing of the day
EARLIEST_HISTORY = date(2000, 1, 1)
SIGNIFICANT_DIGITS = 10

# code -> (units per USD around which the simulation moves, yearly-ish volatility, spread in basis points)
MARKET: dict[str, tuple[str, float, int]] = {
    "USD": ("1", 0.0, 10),
    "EUR": ("0.92", 0.05, 10),
    "GBP": ("0.79", 0.06, 12),
    "JPY": ("151.5", 0.07, 12),
    "CHF": ("0.88", 0.05, 15),
    "CAD": ("1.36", 0.04, 15),
    "AUD": ("1.52", 0.07, 15),
    "NZD": ("1.66", 0.08, 20),
    "SEK": ("10.55", 0.08, 25),
    "NOK": ("10.70", 0.08, 25),
    "DKK": ("6.86", 0.05, 20),
    "PLN": ("3.98", 0.08, 30),
    "CZK": ("23.10", 0.07, 30),
    "HUF": ("360", 0.09, 40),
    "SGD": ("1.34", 0.04, 20),
    "HKD": ("7.82", 0.005, 15),
    "CNY": ("7.20", 0.03, 30),
    "INR": ("83.2", 0.04, 40),
    "IDR": ("15650", 0.06, 50),
    "KRW": ("1330", 0.07, 35),
    "THB": ("35.6", 0.06, 40),
    "VND": ("24500", 0.03, 60),
    "MXN": ("17.1", 0.10, 40),
    "BRL": ("4.95", 0.12, 50),
    "CLP": ("930", 0.11, 60),
    "ZAR": ("18.6", 0.13, 50),
    "TRY": ("32.0", 0.15, 80),
    "AED": ("3.6725", 0.002, 15),
    "KWD": ("0.3075", 0.01, 25),
    "BHD": ("0.376", 0.002, 25),
    "OMR": ("0.3845", 0.002, 25),
    "JOD": ("0.709", 0.003, 30),
    "ISK": ("138", 0.07, 60),
}
assert set(MARKET) <= set(CURRENCIES)  # noqa: S101  (a table error must fail at import)

FX_CURRENCIES = tuple(sorted(MARKET))
_DAY = 86_400.0


def _unit(*parts: str) -> float:
    """A stable value in [0, 1) from the seed and the parts."""
    digest = hashlib.sha256("|".join((SEED, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _noise(code: str, seconds: float) -> float:
    hour = math.floor(seconds / 3600)
    frac = seconds / 3600 - hour
    left = _unit(code, "h", str(hour)) * 2 - 1
    right = _unit(code, "h", str(hour + 1)) * 2 - 1
    return left + (right - left) * frac


def per_usd(code: str, at: datetime) -> float:
    """Units of `code` per US dollar at the instant `at` (the simulated mid price)."""
    anchor, volatility, _ = MARKET[code]
    if volatility == 0.0:
        return float(Decimal(anchor))
    seconds = at.timestamp()
    days = seconds / _DAY
    wave = (
        0.6 * math.sin(2 * math.pi * days / 97 + 2 * math.pi * _unit(code, "p1"))
        + 0.3 * math.sin(2 * math.pi * days / 23 + 2 * math.pi * _unit(code, "p2"))
        + 0.1 * math.sin(2 * math.pi * days / 5 + 2 * math.pi * _unit(code, "p3"))
    )
    return float(Decimal(anchor)) * math.exp(volatility * (wave + 0.15 * _noise(code, seconds)))


def _decimal(value: float) -> Decimal:
    return Decimal(f"{value:.{SIGNIFICANT_DIGITS}g}")


@dataclass(frozen=True, slots=True)
class Rate:
    source: str
    target: str
    mid: Decimal
    bid: Decimal  # what the customer gets selling `source` for `target`
    ask: Decimal  # what the customer pays, in target per source, buying `source`
    spread_bps: int
    at: datetime


def rate(source: str, target: str, at: datetime) -> Rate:
    """Units of `target` per unit of `source` at `at`; both codes must be in MARKET."""
    if source == target:
        one = Decimal(1)
        return Rate(source, target, one, one, one, 0, at)
    mid = per_usd(target, at) / per_usd(source, at)
    spread_bps = max(MARKET[source][2], MARKET[target][2])
    half = spread_bps / 20_000
    return Rate(
        source=source,
        target=target,
        mid=_decimal(mid),
        bid=_decimal(mid * (1 - half)),
        ask=_decimal(mid * (1 + half)),
        spread_bps=spread_bps,
        at=at,
    )


def fixing_instant(day: date) -> datetime:
    return datetime.combine(day, FIXING_TIME)
