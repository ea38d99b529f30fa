"""The shared world for every test: an organisation with an owner and teammates, and an
outsider who owns another organisation. Also the service markers: tests that need
PostgreSQL or Redis skip with the reason when those are absent, and fail instead when
PORTAL_REQUIRE_SERVICES is set (as .ci/run does)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.core.cache import cache

from accounts.models import Membership, Organization, User
from portal.celery import app as celery_app
from tests.factories import PASSWORD, add_member, make_org, make_user

REQUIRE_SERVICES = os.environ.get("PORTAL_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}

# Password hashing is deliberately slow; tests need a hasher, not its cost.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tasks run inline in tests unless a test starts a real worker itself.
celery_app.conf.task_always_eager = True
celery_app.conf.task_eager_propagates = True


def _redis_problem() -> str | None:
    if not settings.REDIS_URL:
        return "REDIS_URL is not set"
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:
        return f"Redis at {settings.REDIS_URL} is unreachable: {exc}"
    return None


def _postgres_problem() -> str | None:
    if not settings.SERVICES_PROFILE:
        return "DATABASE_URL does not point at PostgreSQL"
    return None


def pytest_runtest_setup(item):
    for marker, probe in (("postgres", _postgres_problem), ("redis", _redis_problem)):
        if item.get_closest_marker(marker):
            problem = probe()
            if problem:
                if REQUIRE_SERVICES:
                    pytest.fail(f"{marker} is required (PORTAL_REQUIRE_SERVICES is set) but {problem}")
                pytest.skip(f"needs {marker}: {problem}")


# xdist workers share one Redis database in the services profile; each worker keeps its
# cache keys under its own prefix and clears only those (RedisCache.clear() is FLUSHDB).
_CACHE_PREFIX = f"test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}"
settings.CACHES["default"]["KEY_PREFIX"] = _CACHE_PREFIX


def _clear_cache() -> None:
    if "redis" in settings.CACHES["default"]["BACKEND"].lower():
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{_CACHE_PREFIX}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _clean_cache():
    _clear_cache()
    yield
    _clear_cache()


# Reference rows that data migrations create (plans, marketplace categories); a
# transactional test flushes every table afterwards, so the next one puts them back.
_REFERENCE_SEEDS = [
    ("accounts.migrations.0002_default_plans", "create_plans"),
    ("marketplace.migrations.0002_seed_categories", "seed"),
]


@pytest.fixture(autouse=True)
def _reference_data(request):
    marker = request.node.get_closest_marker("django_db")
    transactional = {"transactional_db", "live_server"} & set(request.fixturenames) or (
        marker is not None and marker.kwargs.get("transaction")
    )
    if not transactional:
        return
    request.getfixturevalue("transactional_db")
    import importlib

    from django.apps import apps

    for module, function in _REFERENCE_SEEDS:
        getattr(importlib.import_module(module), function)(apps, None)


@dataclass
class World:
    org: Organization
    owner: User
    admin: User
    teammate: User  # a developer
    read_only: User
    outsider: User
    outsider_org: Organization
    password: str = PASSWORD

    def membership(self, user: User, org: Organization | None = None) -> Membership:
        return Membership.objects.get(user=user, organization=org or self.org)


@pytest.fixture
def world(db) -> World:
    owner = make_user("owner@acme.test", full_name="Olivia Owner")
    org = make_org("Acme Payments", owner=owner)
    admin = make_user("admin@acme.test", full_name="Adam Admin")
    add_member(org, admin, "admin")
    teammate = make_user("dev@acme.test", full_name="Dana Developer")
    add_member(org, teammate, "developer")
    read_only = make_user("viewer@acme.test", full_name="Vic Viewer")
    add_member(org, read_only, "read_only")
    outsider = make_user("outsider@globex.test", full_name="Oscar Outsider")
    outsider_org = make_org("Globex", owner=outsider)
    return World(org, owner, admin, teammate, read_only, outsider, outsider_org)


@pytest.fixture
def login(client):
    """Sign a user in on the test client (skipping the second factor)."""

    def _login(user: User):
        client.force_login(user)
        return client

    return _login
