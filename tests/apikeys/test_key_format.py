"""The key format: recognisable offline, at least 160 bits, checksummed, HMAC-hashed."""

from __future__ import annotations

import math

import pytest
from django.core.exceptions import ImproperlyConfigured

from apikeys.conf import parse_peppers
from portal.lib import keys as keyfmt


def test_a_generated_key_parses_back_into_its_parts():
    full, parts = keyfmt.generate("live")
    assert full.startswith("pk_live_") and len(full) == keyfmt.KEY_LENGTH
    assert keyfmt.parse_key(full) == parts
    assert parts.prefix == full[: len("pk_live_") + keyfmt.LOOKUP_LENGTH]


def test_the_secret_carries_at_least_160_bits():
    assert keyfmt.SECRET_LENGTH * math.log2(62) >= 160
    assert len({keyfmt.generate("test")[1].secret for _ in range(200)}) == 200


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("sk_live_abc", "unknown_prefix"),
        ("", "unknown_prefix"),
        ("pk_test_tooshort", "malformed"),
        ("pk_test_" + "!" * 50, "malformed"),
    ],
)
def test_it_rejects_strings_that_are_not_keys(raw, reason):
    with pytest.raises(keyfmt.KeyFormatError) as caught:
        keyfmt.parse_key(raw)
    assert caught.value.reason == reason


def test_any_single_character_change_breaks_the_checksum():
    full, _ = keyfmt.generate("test")
    for index in range(len("pk_test_"), len(full)):
        replacement = "0" if full[index] != "0" else "1"
        mangled = full[:index] + replacement + full[index + 1 :]
        with pytest.raises(keyfmt.KeyFormatError) as caught:
            keyfmt.parse_key(mangled)
        assert caught.value.reason == "bad_checksum"


def test_switching_the_environment_prefix_breaks_the_checksum():
    full, _ = keyfmt.generate("test")
    assert not keyfmt.looks_like_key(full.replace("pk_test_", "pk_live_"))


def test_the_digest_depends_on_the_pepper():
    _, parts = keyfmt.generate("test")
    digest = keyfmt.digest(parts.secret, b"p" * 32)
    assert keyfmt.verify(parts.secret, b"p" * 32, digest)
    assert not keyfmt.verify(parts.secret, b"q" * 32, digest)
    other_last = "y" if parts.secret.endswith("x") else "x"  # a different secret, always
    assert not keyfmt.verify(parts.secret[:-1] + other_last, b"p" * 32, digest)


def test_the_first_pepper_hashes_and_every_pepper_verifies():
    ring = parse_peppers(["v2:" + "b" * 32, "v1:" + "a" * 32])
    assert ring.current == "v2"
    assert ring.get("v1") == b"a" * 32


@pytest.mark.parametrize("entries", [[], ["nocolon" * 6], ["v1:short"], ["v1:" + "a" * 32, "v1:" + "b" * 32]])
def test_nonsense_peppers_stop_the_process(entries):
    with pytest.raises(ImproperlyConfigured):
        parse_peppers(entries)
