"""Request capture: a record per request in a buffer, flushed to RequestLog in bulk."""

from __future__ import annotations

import json

import pytest

from apikeys import capture
from apikeys.models import ApiKey, RequestLog
from apikeys.ratelimit import limiter
from apikeys.tasks import flush_request_logs


def test_each_request_leaves_one_record_and_no_row_until_the_flush(call, make_key, world):
    key, secret = make_key()
    call("get", "/api/v1/keys/current", key=secret, HTTP_USER_AGENT="acme-sdk/1.2")
    call("get", f"/api/v1/keys/{key.public_id}", key=secret, ip="10.9.8.7")
    assert RequestLog.objects.count() == 0

    assert flush_request_logs() == 2
    rows = list(RequestLog.objects.order_by("created_at", "id"))
    assert [(r.method, r.route, r.status) for r in rows] == [
        ("GET", "/api/v1/keys/current", 200),
        ("GET", "/api/v1/keys/<str:key_id>", 200),
    ]
    first = rows[0]
    assert first.organization == world.org
    assert first.api_key_id == key.pk and first.credential_id == key.public_id
    assert first.user_agent == "acme-sdk/1.2"
    assert first.request_id.startswith("req_")
    assert first.response_bytes > 0 and first.livemode is False
    key.refresh_from_db()
    assert key.last_used_ip == "10.9.8.7"
    assert key.last_used_at == rows[1].created_at


def test_refused_requests_are_captured_too(call, make_key):
    _, secret = make_key(scopes=["payments:read"])
    call("get", "/api/v1/keys", key=secret)
    flush_request_logs()
    assert RequestLog.objects.get().status == 403


def test_a_late_batch_never_moves_last_use_backwards(make_key):
    key, _ = make_key()
    record = {"o": key.organization_id, "k": key.pk, "c": key.public_id, "r": "/x", "m": "GET", "s": 200, "ms": 1}
    capture.request_logs_insert([json.dumps({**record, "t": 2_000_000_000, "ip": "10.0.0.2"})])
    capture.request_logs_insert([json.dumps({**record, "t": 1_900_000_000, "ip": "10.0.0.1"})])
    key.refresh_from_db()
    assert key.last_used_ip == "10.0.0.2"
    assert RequestLog.objects.count() == 2


def test_records_of_deleted_keys_and_garbage_are_skipped(make_key):
    key, _ = make_key()
    record = {"o": key.organization_id, "k": key.pk, "c": key.public_id, "r": "/x", "m": "GET", "s": 200, "ms": 1}
    ApiKey.objects.filter(pk=key.pk).delete()
    assert capture.request_logs_insert([json.dumps({**record, "t": 1_900_000_000}), "not json"]) == 1
    assert RequestLog.objects.get().api_key_id is None


@pytest.mark.redis
def test_records_ride_to_redis_with_the_next_request_and_are_flushed_from_there(call, make_key):
    _, secret = make_key()
    call("get", "/api/v1/keys/current", key=secret)
    assert len(capture.buffer) == 1  # waits in the process for the next round trip
    call("get", "/api/v1/keys/current", key=secret)
    assert len(capture.buffer) == 1  # the first went to Redis in the rate-limit script
    assert limiter.redis.client.llen(limiter.redis.capture_key) == 1
    assert flush_request_logs() == 2  # one from Redis, one from this process's buffer
    assert limiter.redis.client.llen(limiter.redis.capture_key) == 0
    assert RequestLog.objects.count() == 2


def test_a_quiet_process_ships_its_buffer_itself(call, make_key, settings):
    settings.APIKEY_REDIS_URL = ""  # embedded profile: straight to the database, in bulk
    _, secret = make_key()
    call("get", "/api/v1/keys/current", key=secret)
    call("get", "/api/v1/keys/current", key=secret)
    capture.ship_now()
    assert len(capture.buffer) == 0
    assert RequestLog.objects.count() == 2


def test_a_failed_shipment_keeps_the_records(call, make_key, settings, monkeypatch):
    settings.APIKEY_REDIS_URL = ""
    _, secret = make_key()
    call("get", "/api/v1/keys/current", key=secret)

    def broken(records):
        raise RuntimeError("database away")

    monkeypatch.setattr(capture, "request_logs_insert", broken)
    with pytest.raises(RuntimeError):
        capture.ship_now()
    assert len(capture.buffer) == 1
