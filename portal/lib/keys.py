"""The API key format, with no Django in sight.

A key reads `pk_live_` or `pk_test_`, then a 12-character public lookup id, a
32-character secret (32 x log2(62) = 190 bits from `secrets`), and a 6-character
base62 CRC32 of everything before it:

    pk_test_ 4fQ2x9LmA7bZ 9c1V...(32)... 0aZ3kQ
    prefix   lookup id    secret          checksum

The checksum is not security (anyone can compute it); it lets us reject a typo, a
truncated paste or a random string without touching the database, and lets secret
scanners recognise our keys with almost no false positives (GitHub's token format
does the same).

Only an HMAC-SHA256 digest of the secret, keyed with a server-side pepper, is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PREFIXES = {"live": "pk_live_", "test": "pk_test_"}
LOOKUP_LENGTH = 12
SECRET_LENGTH = 32
CHECKSUM_LENGTH = 6  # 62**6 > 2**32, so any CRC32 fits
KEY_LENGTH = len("pk_live_") + LOOKUP_LENGTH + SECRET_LENGTH + CHECKSUM_LENGTH

_BODY = re.compile(
    rf"^pk_(?P<env>live|test)_(?P<lookup>[0-9A-Za-z]{{{LOOKUP_LENGTH}}})"
    rf"(?P<secret>[0-9A-Za-z]{{{SECRET_LENGTH}}})(?P<checksum>[0-9A-Za-z]{{{CHECKSUM_LENGTH}}})$"
)


class KeyFormatError(ValueError):
    """Why a string is not one of our keys; `reason` is stable, the message is for people."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ParsedKey:
    environment: str  # "live" or "test"
    lookup_id: str
    secret: str

    @property
    def prefix(self) -> str:
        """The part the portal may show: `pk_live_<lookup id>`."""
        return PREFIXES[self.environment] + self.lookup_id


def _random(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def _base62(number: int, width: int) -> str:
    chars = []
    while number:
        number, rest = divmod(number, 62)
        chars.append(BASE62[rest])
    return "".join(reversed(chars)).rjust(width, "0")


def checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")) & 0xFFFFFFFF, CHECKSUM_LENGTH)


def new_lookup_id() -> str:
    return _random(LOOKUP_LENGTH)


def generate(environment: str, *, lookup_id: str | None = None) -> tuple[str, ParsedKey]:
    """A new key (the full string, shown once) and its parts. Rotation keeps the lookup id."""
    if environment not in PREFIXES:
        raise ValueError(f"unknown environment {environment!r}")
    lookup_id = lookup_id or new_lookup_id()
    secret = _random(SECRET_LENGTH)
    body = PREFIXES[environment] + lookup_id + secret
    return body + checksum(body), ParsedKey(environment, lookup_id, secret)


def parse_key(raw: str) -> ParsedKey:
    """Split a presented key, or raise KeyFormatError without any lookup."""
    if not raw.startswith(("pk_live_", "pk_test_")):
        raise KeyFormatError("unknown_prefix", "The key must start with pk_live_ or pk_test_.")
    match = _BODY.match(raw)
    if match is None:
        raise KeyFormatError("malformed", f"The key must be {KEY_LENGTH} characters of the form pk_<env>_<base62>.")
    if not hmac.compare_digest(checksum(raw[:-CHECKSUM_LENGTH]), match["checksum"]):
        raise KeyFormatError("bad_checksum", "The key's checksum does not match; it was probably mistyped or cut.")
    return ParsedKey(match["env"], match["lookup"], match["secret"])


def looks_like_key(raw: str) -> bool:
    try:
        parse_key(raw)
    except KeyFormatError:
        return False
    return True


def digest(secret: str, pepper: bytes) -> str:
    """HMAC-SHA256 of the secret part, hex; the pepper never leaves the server."""
    return hmac.new(pepper, secret.encode("ascii"), hashlib.sha256).hexdigest()


def verify(secret: str, pepper: bytes, expected: str) -> bool:
    return hmac.compare_digest(digest(secret, pepper), expected)


def last4(full_key: str) -> str:
    return full_key[-4:]
