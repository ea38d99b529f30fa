"""Checksums for card and bank numbers: Luhn, card brands, IBAN mod-97, US ABA routing."""

from __future__ import annotations

# ISO 13616 lengths for the countries the sandbox accepts, and each one's currency.
IBAN_COUNTRIES: dict[str, tuple[int, str]] = {
    "AT": (20, "EUR"),
    "BE": (16, "EUR"),
    "CH": (21, "CHF"),
    "CZ": (24, "CZK"),
    "DE": (22, "EUR"),
    "DK": (18, "DKK"),
    "ES": (24, "EUR"),
    "FI": (18, "EUR"),
    "FR": (27, "EUR"),
    "GB": (22, "GBP"),
    "HU": (28, "HUF"),
    "IE": (22, "EUR"),
    "IT": (27, "EUR"),
    "LU": (20, "EUR"),
    "NL": (18, "EUR"),
    "NO": (15, "NOK"),
    "PL": (28, "PLN"),
    "PT": (25, "EUR"),
    "SE": (24, "SEK"),
}


def digits_only(value: str) -> str:
    return "".join(ch for ch in value if ch not in " -")


def luhn_valid(number: str) -> bool:
    if not number.isascii() or not number.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_brand(number: str) -> str | None:
    """The brand from the IIN ranges, or None when we do not accept the number's network."""
    length = len(number)
    if number.startswith("4") and length in (13, 16, 19):
        return "visa"
    if length == 16 and (51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720):
        return "mastercard"
    if length == 15 and number[:2] in ("34", "37"):
        return "amex"
    if length in (16, 19) and (number.startswith("6011") or number.startswith("65")):
        return "discover"
    return None


def iban_normalize(value: str) -> str:
    return "".join(value.split()).upper()


def iban_problem(iban: str) -> str | None:
    """Why `iban` (normalised) is not a valid IBAN, or None when it is."""
    if len(iban) < 5 or not iban.isascii() or not iban.isalnum():
        return "An IBAN has a country code, two check digits and the account's letters and digits."
    country = iban[:2]
    if country not in IBAN_COUNTRIES:
        return f"IBANs from {country!r} are not supported in the sandbox."
    if len(iban) != IBAN_COUNTRIES[country][0]:
        return f"A {country} IBAN has {IBAN_COUNTRIES[country][0]} characters, not {len(iban)}."
    rearranged = iban[4:] + iban[:4]
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    if int(numeric) % 97 != 1:
        return "The IBAN's check digits do not match (mod-97)."
    return None


def aba_valid(routing: str) -> bool:
    """The ABA routing number checksum: 3·d1 + 7·d2 + d3 + 3·d4 + ... ≡ 0 (mod 10)."""
    if len(routing) != 9 or not routing.isascii() or not routing.isdigit():
        return False
    weights = (3, 7, 1) * 3
    return sum(w * int(d) for w, d in zip(weights, routing, strict=True)) % 10 == 0
