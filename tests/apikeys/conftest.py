"""Fixtures for the API key tests: a clean hot path per test and a key factory.

Each test gets its own Redis key prefix, and the limiter talks to a different Redis
database from the cache (whose `clear()` flushes its whole database, possibly from
another xdist worker mid-test).
"""

from __future__ import annotations

import uuid
from urllib.parse import urlparse, urlunparse

import pytest
import redis

from apikeys import capture
from apikeys.authentication import key_cache
from apikeys.ratelimit import limiter
from apikeys.services import apikey_create


def limiter_redis_url(url: str) -> str:
    if not url:
        return ""
    parsed = urlparse(url)
    db = int(parsed.path.lstrip("/") or 0)
    return urlunparse(parsed._replace(path=f"/{(db + 1) % 16}"))


@pytest.fixture(autouse=True)
def hot_path(settings):
    settings.APIKEY_CAPTURE_BACKGROUND = False
    # The world fixture hashes five passwords per test; these tests are not about passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.APIKEY_REDIS_URL = limiter_redis_url(settings.REDIS_URL)
    prefix = f"t{uuid.uuid4().hex[:12]}:"
    limiter.prefix = prefix
    limiter._down_until = 0.0
    limiter.local.reset()
    key_cache.clear()
    capture.buffer.clear()
    yield
    key_cache.clear()
    capture.buffer.clear()
    limiter.local.reset()
    if settings.APIKEY_REDIS_URL:
        try:
            client = redis.Redis.from_url(settings.APIKEY_REDIS_URL, socket_connect_timeout=1)
            names = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if names:
                client.delete(*names)
        except redis.RedisError:
            pass


@pytest.fixture
def make_key(world):
    def _make(*, user=None, org=None, environment="test", scopes=("keys:read", "keys:manage"), **extra):
        membership = world.membership(user or world.owner, org)
        return apikey_create(
            organization=membership.organization,
            actor_membership=membership,
            name=extra.pop("name", "CI key"),
            environment=environment,
            scopes=list(scopes),
            **extra,
        )

    return _make


@pytest.fixture
def call(client):
    """Call the API with a key: call("get", "/api/v1/keys/current", key=secret)."""

    def _call(method, path, *, key=None, header="bearer", data=None, ip="127.0.0.1", **extra):
        headers = dict(extra)
        if key is not None:
            if header == "bearer":
                headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
            else:
                headers["HTTP_X_API_KEY"] = key
        kwargs = {"REMOTE_ADDR": ip, **headers}
        if data is not None:
            kwargs["data"] = data
            kwargs["content_type"] = "application/json"
        return getattr(client, method)(path, **kwargs)

    return _call
