from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from webhooks.http import Result


def test_retry_after_in_seconds_is_read_as_is():
    assert Result(headers={"retry-after": "120"}).retry_after == 120


def test_retry_after_as_an_http_date_becomes_seconds_from_now():
    when = datetime.now(UTC) + timedelta(minutes=10)
    seconds = Result(headers={"retry-after": format_datetime(when, usegmt=True)}).retry_after
    assert 595 <= seconds <= 600


def test_a_past_http_date_means_retry_now():
    when = datetime.now(UTC) - timedelta(minutes=10)
    assert Result(headers={"retry-after": format_datetime(when, usegmt=True)}).retry_after == 0


def test_a_malformed_retry_after_is_ignored():
    assert Result(headers={"retry-after": "soon"}).retry_after is None
    assert Result(headers={}).retry_after is None
