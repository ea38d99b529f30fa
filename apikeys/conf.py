"""Settings-derived helpers for the API key app: the pepper ring."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class PepperRing:
    current: str
    peppers: dict[str, bytes]

    def get(self, version: str) -> bytes | None:
        return self.peppers.get(version)


def parse_peppers(entries: list[str]) -> PepperRing:
    """`["v2:<secret>", "v1:<secret>"]` -> a ring whose first entry hashes new keys."""
    peppers: dict[str, bytes] = {}
    for entry in entries:
        version, sep, secret = entry.partition(":")
        if not sep or not version.isalnum() or len(version) > 16 or len(secret) < 32:
            raise ImproperlyConfigured(
                "Each APIKEY_PEPPERS entry must be <version>:<secret> with an alphanumeric version "
                "(at most 16 characters) and a secret of at least 32 characters."
            )
        if version in peppers:
            raise ImproperlyConfigured(f"APIKEY_PEPPERS lists version {version!r} twice.")
        peppers[version] = secret.encode()
    if not peppers:
        raise ImproperlyConfigured("APIKEY_PEPPERS needs at least one entry.")
    return PepperRing(current=next(iter(peppers)), peppers=peppers)


@cache
def pepper_ring() -> PepperRing:
    if settings.APIKEY_PEPPERS:
        return parse_peppers(settings.APIKEY_PEPPERS)
    # Development only (production refuses to start without peppers): derive one from SECRET_KEY.
    derived = hashlib.sha256(b"portal-apikey-pepper:" + settings.SECRET_KEY.encode()).hexdigest()
    return parse_peppers([f"dev:{derived}"])
