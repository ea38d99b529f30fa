"""Delegated grants (what a marketplace install is to apikeys): tokens issued under a grant
act for the granting organisation and environment within the grant's scopes, are
attributed to the grant in the request capture, keep the hot-path budget, and stop at
once when the grant is revoked."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken, set_token_value

from apikeys import capture
from apikeys.authentication import KeyContext, token_cache
from apikeys.models import DelegatedGrant, DelegatedGrantCredential, RequestLog
from apikeys.oauth import ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX
from apikeys.services import delegated_grant_create, delegated_grant_revoke
from apikeys.signals import grant_requests_flushed
from tests.apikeys.oauth_support import basic, make_application
from tests.apikeys.test_ratelimit import RoundTrips

CURRENT = "/api/v1/keys/current"


@pytest.fixture
def partner_app(world):
    """An authorization-code application of the outsider's organisation (the partner)."""
    return make_application(
        world,
        user=world.outsider,
        org=world.outsider_org,
        grant_type="authorization_code",
        scopes=["keys:read", "payments:read", "customers:read"],
    )


@pytest.fixture
def grant(world, partner_app):
    application, _ = partner_app
    return delegated_grant_create(
        application=application,
        organization=world.org,
        environment="live",
        scopes=["keys:read", "payments:read"],
        granted_by=world.owner,
    )


def issue(grant: DelegatedGrant, *, scope: str = "keys:read payments:read customers:read", user=None) -> str:
    """An access token (and its refresh token) recorded under the grant, as /oauth/token does."""
    raw, raw_refresh = ACCESS_TOKEN_PREFIX + secrets.token_hex(20), REFRESH_TOKEN_PREFIX + secrets.token_hex(24)
    token = AccessToken(
        user=user or grant.granted_by,
        application=grant.application,
        expires=timezone.now() + timedelta(hours=1),
        scope=scope,
    )
    set_token_value(token, raw)
    token.save()
    refresh = RefreshToken(user=token.user, application=grant.application, access_token=token)
    set_token_value(refresh, raw_refresh)
    refresh.save()
    DelegatedGrantCredential.objects.create(grant=grant, kind="access", checksum=token.token_checksum)
    DelegatedGrantCredential.objects.create(grant=grant, kind="refresh", checksum=refresh.token_checksum)
    return raw


def test_a_grant_token_acts_for_the_granting_organisation_and_environment(call, world, grant):
    response = call("get", CURRENT, key=issue(grant))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["organization"] == world.org.public_id  # not the application's owner
    assert body["environment"] == "live" and body["livemode"] is True  # the grant's, not the app's (test)
    # token scopes ∩ grant scopes ∩ application scopes: customers:read is not in the grant
    assert body["scopes"] == ["keys:read", "payments:read"]


def test_the_grant_outlives_the_member_who_approved_it(call, world, grant):
    from accounts.models import Membership

    token = issue(grant, user=world.teammate)
    Membership.objects.filter(user=world.teammate, organization=world.org).delete()
    assert call("get", CURRENT, key=token).status_code == 200


def test_a_token_of_a_revoked_grant_is_refused(call, grant):
    token = issue(grant)
    DelegatedGrant.objects.filter(pk=grant.pk).update(revoked_at=timezone.now())
    response = call("get", CURRENT, key=token)
    assert response.status_code == 401
    assert response.json()["type"].endswith("invalid-access-token")


def test_revoking_the_grant_cuts_off_a_cached_token_at_once(
    call, grant, django_capture_on_commit_callbacks, django_assert_num_queries
):
    token, other = issue(grant), issue(grant)
    assert call("get", CURRENT, key=token).status_code == 200  # cached in this process now
    with django_assert_num_queries(0):
        assert call("get", CURRENT, key=token).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        revoked = delegated_grant_revoke(grant=grant)
    assert revoked == 2
    assert not AccessToken.objects.exists() and not RefreshToken.objects.exists()
    for raw in (token, other):
        assert call("get", CURRENT, key=raw).status_code == 401
    grant.refresh_from_db()
    assert grant.revoked_at is not None


def test_the_revocation_marker_alone_refuses_a_cached_grant_token(call, grant, django_capture_on_commit_callbacks):
    """Another process still holds the context in its cache; the Redis/local marker wins."""
    token = issue(grant)
    assert call("get", CURRENT, key=token).status_code == 200
    cached = token_cache.get(AccessToken.objects.get().token_checksum)
    with django_capture_on_commit_callbacks(execute=True):
        delegated_grant_revoke(grant=grant)
    # Put the stale context back, as a process that has not reloaded it would hold it.
    token_cache._entries[cached_checksum(token)] = (float("inf"), cached)
    response = call("get", CURRENT, key=token)
    assert response.status_code == 401
    assert response.json()["type"].endswith("revoked-access-token")


def cached_checksum(raw: str) -> str:
    from apikeys.authentication import token_checksum

    return token_checksum(raw)


@pytest.mark.redis
def test_a_steady_state_grant_request_makes_one_redis_round_trip_and_no_query(
    call, grant, monkeypatch, django_assert_num_queries
):
    token = issue(grant)
    assert call("get", CURRENT, key=token).status_code == 200  # loads the token and its grant
    trips = RoundTrips(monkeypatch)
    with django_assert_num_queries(0):
        response = call("get", CURRENT, key=token)
    assert response.status_code == 200
    assert trips.count == 1


def test_the_capture_attributes_calls_to_the_grant(call, world, grant):
    token = issue(grant)
    assert call("get", CURRENT, key=token).status_code == 200
    records = [json.loads(r) for r in capture.buffer.take(10)]
    assert [r.get("g") for r in records] == [grant.pk]
    capture.buffer.put_back([json.dumps(r) for r in records])
    received = []

    def receiver(sender, usage, **kwargs):
        received.append(usage)

    grant_requests_flushed.connect(receiver, dispatch_uid="test-grant-usage")
    try:
        assert capture.request_logs_flush() == 1
    finally:
        grant_requests_flushed.disconnect(dispatch_uid="test-grant-usage")
    log = RequestLog.objects.get()
    assert log.grant == grant and log.organization == world.org and log.livemode is True
    grant.refresh_from_db()
    assert grant.last_used_at == log.created_at
    assert received == [{grant.pk: (1, log.created_at)}]


def test_a_key_call_carries_no_grant(call, make_key):
    _, secret = make_key()
    assert call("get", CURRENT, key=secret).status_code == 200
    assert "g" not in json.loads(capture.buffer.take(1)[0])
    context = KeyContext.__dataclass_fields__["grant_id"]
    assert context.default is None


def test_a_late_batch_never_moves_the_grants_last_use_back(world, grant):
    now = timezone.now()
    record = {"o": world.org.pk, "k": -grant.application_id, "c": "app_x", "l": True, "r": "/x", "m": "GET"}
    late = [json.dumps({**record, "s": 200, "ms": 1, "t": (now - timedelta(hours=1)).timestamp(), "g": grant.pk})]
    fresh = [json.dumps({**record, "s": 200, "ms": 1, "t": now.timestamp(), "g": grant.pk})]
    capture.request_logs_insert(fresh)
    capture.request_logs_insert(late)
    grant.refresh_from_db()
    assert abs((grant.last_used_at - now).total_seconds()) < 1
    assert RequestLog.objects.filter(grant=grant).count() == 2


def test_a_record_of_a_deleted_grant_is_kept_without_it(world, grant):
    record = {"o": world.org.pk, "k": 0, "c": "app_x", "l": True, "r": "/x", "m": "GET", "s": 200, "ms": 1}
    capture.request_logs_insert([json.dumps({**record, "t": timezone.now().timestamp(), "g": grant.pk + 999})])
    assert RequestLog.objects.get().grant is None


def test_introspection_reports_the_granting_organisation(client, world, grant, partner_app):
    application, secret = partner_app
    token = issue(grant)
    response = client.post(
        "/oauth/introspect", {"token": token}, HTTP_AUTHORIZATION=basic(application.client_id, secret)
    )
    body = response.json()
    assert body["active"] is True
    assert body["organization"] == world.org.public_id and body["livemode"] is True
    DelegatedGrant.objects.filter(pk=grant.pk).update(revoked_at=timezone.now())
    response = client.post(
        "/oauth/introspect", {"token": token}, HTTP_AUTHORIZATION=basic(application.client_id, secret)
    )
    assert response.json() == {"active": False}
