"""No full card number reaches the database, the logs, the request capture or a response."""

from __future__ import annotations

import io
import logging

from django.core.management import call_command
from django.db import connection

from apikeys import capture
from apikeys.models import RequestLog
from apikeys.ratelimit import limiter

NUMBERS = ("4242424242424242", "4000000000009995", "4242424242424241")  # the last fails Luhn


def _spellings(number: str) -> set[str]:
    return {number, " ".join(number[i : i + 4] for i in range(0, len(number), 4))}


def test_card_numbers_are_never_stored_logged_echoed_or_captured(api, caplog, settings):
    settings.APIKEY_CAPTURE_BACKGROUND = False
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    connection.force_debug_cursor = True  # log every SQL statement with its parameters
    responses = []
    try:
        for number in NUMBERS:
            for spelled in _spellings(number):
                card = {"number": spelled, "exp_month": 12, "exp_year": 2035, "cvc": "123"}
                responses.append(api("post", "/api/v1/tokens", card, HTTP_IDEMPOTENCY_KEY=f"tok-{len(responses)}"))
        tokens = [r.json()["id"] for r in responses if r.status_code == 201]
        assert tokens, "the valid cards must have been tokenised"
        responses.append(api("post", "/api/v1/payments", {"amount": 100, "currency": "usd", "card": tokens[0]}))
        # Embedded: the records wait in this process; services: each request's rate-limit
        # round trip has shipped the earlier ones to Redis.
        captured = capture.buffer.take(10_000)
        if limiter.redis is not None:
            captured += limiter.redis.pop_records(10_000)
        assert len(captured) == len(responses)
        capture.request_logs_insert(captured)
    finally:
        connection.force_debug_cursor = False

    assert RequestLog.objects.filter(route__contains="tokens").count() == len(responses) - 1
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM payments_mock_cardtoken")
        token_rows = repr(cursor.fetchall())
    haystacks = {
        "database dump": dump.getvalue(),
        "card token rows": token_rows,
        "logs": "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records),
        "request capture": "\n".join(captured),
        "responses": "\n".join(r.content.decode() for r in responses),
    }
    assert "4242" in haystacks["responses"]  # the last four are fine, and present
    assert any("INSERT" in r.getMessage() for r in caplog.records)  # the SQL log did run
    for number in NUMBERS:
        for spelled in _spellings(number):
            for where, text in haystacks.items():
                assert spelled not in text, f"{spelled} found in {where}"
