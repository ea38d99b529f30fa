"""Rate limits: exact headers, the 429 problem, penalties, Redis round trips and fallback."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time

import pytest
import redis
from django.db import connections

from apikeys import capture
from apikeys.ratelimit import LocalLimiter, Tier, limiter

WHOAMI = "/api/v1/keys/current"


def test_a_burst_past_the_key_limit_gets_exact_headers_and_a_429_problem(call, make_key):
    _, secret = make_key(rate_limit_per_hour=3)
    seen = []
    for _ in range(3):
        response = call("get", WHOAMI, key=secret)
        assert response.status_code == 200
        seen.append((response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"], response["RateLimit"]))
    assert seen == [
        ("3", "2", '"key";r=2;t=1200'),
        ("3", "1", '"key";r=1;t=2400'),
        ("3", "0", '"key";r=0;t=3600'),
    ]
    assert response["RateLimit-Policy"] == '"org";q=1100;w=3960, "key";q=3;w=3600, "ip";q=600;w=60'
    assert abs(int(response["X-RateLimit-Reset"]) - (time.time() + 3600)) <= 2

    limited = call("get", WHOAMI, key=secret)
    assert limited.status_code == 429
    assert limited["Content-Type"] == "application/problem+json"
    assert limited["Retry-After"] == "1200"
    assert limited["X-RateLimit-Limit"] == "3"
    assert limited["X-RateLimit-Remaining"] == "0"
    assert limited["RateLimit"] == '"key";r=0;t=3600'
    body = limited.json()
    assert body["type"].endswith("/problems/rate-limited")
    assert body["title"] == "Too many requests"
    assert body["status"] == 429
    assert body["detail"] == "The key rate limit of 3 requests is used up; retry in 1200 s."


def test_the_plan_limit_includes_its_burst_and_is_shared_by_the_organisations_keys(call, make_key, world):
    world.org.plan.requests_per_hour, world.org.plan.burst = 2, 1
    world.org.plan.save()
    _, first = make_key(name="one")
    _, second = make_key(name="two")
    assert [call("get", WHOAMI, key=k).status_code for k in (first, second, first, second)] == [200, 200, 200, 429]


def test_test_and_live_traffic_have_separate_plan_buckets(call, make_key, world):
    world.org.plan.requests_per_hour, world.org.plan.burst = 1, 0
    world.org.plan.save()
    _, test_key = make_key(environment="test")
    _, live_key = make_key(environment="live")
    assert call("get", WHOAMI, key=test_key).status_code == 200
    assert call("get", WHOAMI, key=live_key).status_code == 200
    assert call("get", WHOAMI, key=test_key).status_code == 429


def test_an_expensive_endpoint_costs_more(call, make_key):
    _, secret = make_key(rate_limit_per_hour=6)
    response = call("post", "/api/v1/keys/bulk", key=secret, data={"action": "revoke", "ids": ["key_nope"]})
    assert response.status_code == 404
    assert response["X-RateLimit-Remaining"] == "1"  # cost 5


def test_a_client_that_keeps_hammering_is_blocked_for_growing_periods(monkeypatch, settings):
    settings.APIKEY_PENALTY_THRESHOLD = 2
    settings.APIKEY_PENALTY_BASE_SECONDS = 10
    settings.APIKEY_PENALTY_MAX_SECONDS = 15
    local = LocalLimiter()
    clock = [1_000_000.0]
    monkeypatch.setattr(local, "_now_ms", lambda: clock[0])
    tier = [Tier("key", "k", 1, 1)]

    def check():
        return local.check(tiers=tier, cost=1, subject="key:1", lookup_id=None)

    assert check().allowed
    assert not check().blocked and not check().blocked  # two strikes: now in the box
    blocked = check()
    assert blocked.blocked and blocked.retry_after == 10
    clock[0] += 10_001
    assert check().allowed  # the penalty ended
    check(), check()  # hammer again: the next block is longer
    assert check().retry_after == 15  # 20 s, capped at the maximum
    clock[0] += 15_001
    assert check().allowed


def test_a_blocked_key_gets_a_penalty_problem(call, make_key, settings):
    settings.APIKEY_PENALTY_THRESHOLD = 2
    _, secret = make_key(rate_limit_per_hour=1)
    codes = [call("get", WHOAMI, key=secret).status_code for _ in range(3)]
    assert codes == [200, 429, 429]
    blocked = call("get", WHOAMI, key=secret)
    assert blocked.status_code == 429
    assert blocked.json()["type"].endswith("/problems/rate-limit-penalty")
    assert blocked["Retry-After"] == str(settings.APIKEY_PENALTY_BASE_SECONDS)


def test_an_unreachable_redis_degrades_to_the_local_limiter_without_errors(call, make_key, settings, caplog):
    settings.APIKEY_REDIS_URL = "redis://127.0.0.1:1/0"
    _, secret = make_key(rate_limit_per_hour=2)
    with caplog.at_level(logging.WARNING, logger="apikeys.ratelimit"):
        codes = [call("get", WHOAMI, key=secret).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert "in-process limiter" in caplog.text


class RoundTrips:
    def __init__(self, monkeypatch):
        self.count = 0
        original = redis.Redis.execute_command

        def counting(client, *args, **kwargs):
            if threading.current_thread() is threading.main_thread():
                self.count += 1
            return original(client, *args, **kwargs)

        monkeypatch.setattr(redis.Redis, "execute_command", counting)


@pytest.mark.redis
def test_a_steady_state_request_makes_one_redis_round_trip_and_no_query(
    call, make_key, monkeypatch, django_assert_num_queries
):
    _, secret = make_key()
    assert call("get", WHOAMI, key=secret).status_code == 200  # caches the key, loads the script
    trips = RoundTrips(monkeypatch)
    with django_assert_num_queries(0):
        response = call("get", WHOAMI, key=secret)
    assert response.status_code == 200
    assert "X-RateLimit-Remaining" in response
    assert trips.count == 1


def _hammer(prefix: str, url: str, attempts: int, threads: int, results) -> None:
    from django.conf import settings as dj_settings

    dj_settings.APIKEY_REDIS_URL = url
    limiter.prefix = prefix
    allowed = []

    def worker():
        tier = [Tier("key", "shared", 37, 3600)]
        for _ in range(attempts):
            allowed.append(limiter.check(tiers=tier, cost=1, subject="s", lookup_id=None).allowed)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    results.put((sum(allowed), any(limiter.local._tats)))


@pytest.mark.redis
def test_two_processes_sharing_redis_admit_exactly_the_limit(settings):
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_hammer, args=(limiter.prefix, settings.APIKEY_REDIS_URL, 10, 16, results)) for _ in range(2)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    assert sum(admitted for admitted, _ in outcomes) == 37
    assert not any(used_local for _, used_local in outcomes)  # Redis did the counting, not the fallback


def test_an_address_that_keeps_presenting_invalid_keys_is_blocked_even_with_a_valid_one(call, make_key, settings):
    settings.APIKEY_PENALTY_THRESHOLD = 3
    _, secret = make_key()
    codes = [call("get", WHOAMI, key="pk_test_" + "x" * 50, ip="198.51.100.9").status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    blocked = call("get", WHOAMI, key=secret, ip="198.51.100.9")
    assert blocked.status_code == 429
    assert blocked.json()["type"].endswith("/problems/rate-limit-penalty")
    assert blocked["Retry-After"] == str(settings.APIKEY_PENALTY_BASE_SECONDS)
    assert call("get", WHOAMI, key=secret, ip="198.51.100.10").status_code == 200  # other addresses are fine
    limiter.lift_block("ip:198.51.100.9")
    assert call("get", WHOAMI, key=secret, ip="198.51.100.9").status_code == 200


@pytest.mark.redis
def test_redis_stopping_mid_run_degrades_and_recovers_without_errors(call, make_key, settings, caplog):
    _, secret = make_key(rate_limit_per_hour=10)
    working_url = settings.APIKEY_REDIS_URL
    assert call("get", WHOAMI, key=secret)["X-RateLimit-Remaining"] == "9"  # counted in Redis

    settings.APIKEY_REDIS_URL = "redis://127.0.0.1:1/0"  # Redis "stops"
    with caplog.at_level(logging.WARNING, logger="apikeys.ratelimit"):
        degraded = call("get", WHOAMI, key=secret)
    assert degraded.status_code == 200
    assert degraded["X-RateLimit-Remaining"] == "9"  # a fresh local bucket: per-process while degraded
    assert "in-process limiter" in caplog.text

    settings.APIKEY_REDIS_URL = working_url  # Redis is back once the circuit closes
    limiter._down_until = 0.0
    assert call("get", WHOAMI, key=secret)["X-RateLimit-Remaining"] == "8"
    # The records of the first two requests rode along; the third waits for the next trip.
    assert limiter.redis.client.llen(limiter.redis.capture_key) == 2
    assert len(capture.buffer) == 1
