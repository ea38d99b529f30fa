"""Revocation wins on every process within a second, despite each process's key cache."""

from __future__ import annotations

import multiprocessing

import pytest
from django.db import connections

from apikeys.authentication import authenticate_key, key_cache
from apikeys.ratelimit import limiter, tiers_for_key
from apikeys.services import apikey_revoke


def _other_process(raw: str, prefix: str, url: str, conn) -> None:
    """A second web process: caches the key, then checks it again after the revocation."""
    from django.conf import settings

    settings.APIKEY_REDIS_URL = url
    limiter.prefix = prefix
    key_cache.clear()

    def one_request() -> str:
        context = authenticate_key(raw, ip=None)  # from this process's cache after the first call
        decision = limiter.check(tiers=tiers_for_key(context, None), cost=1, subject="x", lookup_id=context.lookup_id)
        return "revoked" if decision.revoked else "allowed"

    conn.send(one_request())
    conn.recv()  # the parent revoked the key
    conn.send(one_request())


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_revocation_reaches_another_process_that_cached_the_key(make_key, world, settings):
    key, secret = make_key()
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_other_process, args=(secret, limiter.prefix, settings.APIKEY_REDIS_URL, child))
    process.start()
    try:
        assert parent.poll(20)
        assert parent.recv() == "allowed"
        apikey_revoke(key=key, actor=world.membership(world.owner), reason="leaked")  # commits: autocommit
        parent.send("go")
        assert parent.poll(20)
        # The very next request of the other process, still holding the key in its
        # cache (its TTL is 60 s), is refused by the marker checked in the same script.
        assert parent.recv() == "revoked"
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


def test_the_revoking_process_forgets_the_key_at_once(call, make_key, world, django_capture_on_commit_callbacks):
    key, secret = make_key()
    assert call("get", "/api/v1/keys/current", key=secret).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        apikey_revoke(key=key, actor=world.membership(world.owner))
    assert call("get", "/api/v1/keys/current", key=secret).status_code == 401
