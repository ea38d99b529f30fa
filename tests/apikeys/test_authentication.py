"""Every way into the API with a key, and every way of being turned away."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys.authentication import key_cache
from apikeys.models import ApiKey
from apikeys.services import apikey_revoke, apikey_rotate
from portal.lib import keys as keyfmt

WHOAMI = "/api/v1/keys/current"


def problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["request_id"] == response["X-Request-Id"]
    return body


@pytest.mark.django_db
def test_it_answers_401_without_a_credential(call):
    body = problem(call("get", WHOAMI), 401)
    assert body["type"].endswith("/problems/unauthenticated")


def test_it_accepts_a_bearer_key_and_exposes_the_context(call, make_key, world):
    key, secret = make_key()
    response = call("get", WHOAMI, key=secret)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": key.public_id,
        "object": "api_key",
        "organization": world.org.public_id,
        "environment": "test",
        "livemode": False,
        "scopes": ["keys:manage", "keys:read"],
    }


def test_it_accepts_the_x_api_key_header(call, make_key):
    _, secret = make_key()
    assert call("get", WHOAMI, key=secret, header="x-api-key").status_code == 200


def test_it_rejects_a_malformed_authorization_header(call, make_key):
    _, secret = make_key()
    body = problem(call("get", WHOAMI, HTTP_AUTHORIZATION=f"Bearer {secret} extra"), 401)
    assert "single key" in body["detail"]
    assert problem(call("get", WHOAMI, HTTP_AUTHORIZATION="Bearer "), 401)["type"].endswith("/invalid-api-key")


@pytest.mark.django_db
def test_it_rejects_an_unknown_prefix(call):
    body = problem(call("get", WHOAMI, key="sk_live_" + "a" * 50), 401)
    assert body["type"].endswith("/problems/invalid-api-key")
    assert "pk_live_ or pk_test_" in body["detail"]


@pytest.mark.django_db
def test_it_rejects_a_key_of_the_wrong_shape(call):
    assert "characters of the form" in problem(call("get", WHOAMI, key="pk_test_short"), 401)["detail"]


def test_it_rejects_a_bad_checksum_without_a_query(call, make_key, django_assert_num_queries):
    _, secret = make_key()
    mangled = secret[:30] + ("A" if secret[30] != "A" else "B") + secret[31:]
    with django_assert_num_queries(0):
        body = problem(call("get", WHOAMI, key=mangled), 401)
    assert "checksum" in body["detail"]


def test_it_rejects_a_well_formed_key_that_does_not_exist(call, make_key):
    make_key()
    full, _ = keyfmt.generate("test")
    assert problem(call("get", WHOAMI, key=full), 401)["detail"] == "No API key matches this value."


def test_it_rejects_the_right_lookup_id_with_a_wrong_secret(call, make_key):
    key, _ = make_key()
    forged, _ = keyfmt.generate("test", lookup_id=key.lookup_id)
    assert problem(call("get", WHOAMI, key=forged), 401)["detail"] == "No API key matches this value."


def test_it_rejects_a_revoked_key(call, make_key, world, django_capture_on_commit_callbacks):
    key, secret = make_key()
    assert call("get", WHOAMI, key=secret).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        apikey_revoke(key=key, actor=world.membership(world.owner), reason="done")
    body = problem(call("get", WHOAMI, key=secret), 401)
    assert body["type"].endswith("/problems/revoked-api-key")
    assert body["detail"] == "This API key has been revoked."


def test_it_rejects_an_expired_key(call, make_key):
    key, secret = make_key(expires_at=timezone.now() + timedelta(days=1))
    assert call("get", WHOAMI, key=secret).status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    key_cache.clear()
    body = problem(call("get", WHOAMI, key=secret), 401)
    assert body["detail"] == "This API key has expired."


def test_a_rotated_key_keeps_its_old_secret_during_the_grace_period_only(call, make_key, world):
    key, old = make_key()
    key, new = apikey_rotate(key=key, actor=world.membership(world.owner), grace=timedelta(hours=1))
    assert new != old and new[:20] == old[:20]  # same prefix and lookup id, new secret
    assert call("get", WHOAMI, key=old).status_code == 200
    assert call("get", WHOAMI, key=new).status_code == 200

    ApiKey.objects.filter(pk=key.pk).update(previous_valid_until=timezone.now() - timedelta(seconds=1))
    key_cache.clear()
    body = problem(call("get", WHOAMI, key=old), 401)
    assert body["type"].endswith("/problems/rotated-api-key")
    assert call("get", WHOAMI, key=new).status_code == 200


def test_a_rotation_without_grace_stops_the_old_secret_at_once(call, make_key, world):
    key, old = make_key()
    apikey_rotate(key=key, actor=world.membership(world.owner), grace=timedelta(0))
    assert problem(call("get", WHOAMI, key=old), 401)["type"].endswith("/problems/rotated-api-key")


def test_another_process_that_cached_the_key_accepts_the_new_secret_after_rotation(call, make_key, world, monkeypatch):
    key, old = make_key()
    assert call("get", WHOAMI, key=old).status_code == 200  # cached here
    # Rotate "elsewhere": the row changes but this process's cache is not told.
    monkeypatch.setattr(key_cache, "invalidate", lambda lookup_id: None)
    _, new = apikey_rotate(key=key, actor=world.membership(world.owner), grace=timedelta(hours=1))
    monkeypatch.setattr("apikeys.authentication.REFRESH_AFTER_MISMATCH", 0.0)
    assert call("get", WHOAMI, key=new).status_code == 200


def test_it_refuses_an_address_outside_the_allowlist(call, make_key):
    _, secret = make_key(allowed_ips=["10.0.0.0/8", "2001:db8::/32"])
    body = problem(call("get", WHOAMI, key=secret, ip="192.0.2.7"), 403)
    assert body["type"].endswith("/problems/ip-not-allowed")
    assert "192.0.2.7" in body["detail"]
    assert call("get", WHOAMI, key=secret, ip="10.1.2.3").status_code == 200
    assert call("get", WHOAMI, key=secret, ip="2001:db8::1").status_code == 200
    assert problem(call("get", WHOAMI, key=secret, ip="2001:db9::1"), 403)


def test_it_names_the_missing_scope(call, make_key):
    _, secret = make_key(scopes=["payments:read"])
    body = problem(call("get", "/api/v1/keys", key=secret), 403)
    assert body["type"].endswith("/problems/insufficient-scope")
    assert "keys:read" in body["detail"]


def test_a_test_key_reports_test_mode_and_a_live_key_live_mode(call, make_key):
    _, test_secret = make_key(environment="test")
    _, live_secret = make_key(environment="live")
    assert test_secret.startswith("pk_test_") and live_secret.startswith("pk_live_")
    assert call("get", WHOAMI, key=test_secret).json()["livemode"] is False
    assert call("get", WHOAMI, key=live_secret).json()["livemode"] is True


def test_a_test_key_cannot_see_live_keys(call, make_key):
    _, test_secret = make_key(environment="test")
    live, _ = make_key(environment="live")
    problem(call("get", f"/api/v1/keys/{live.public_id}", key=test_secret), 404)
    listed = call("get", "/api/v1/keys", key=test_secret).json()["data"]
    assert live.public_id not in {row["id"] for row in listed}


def test_a_steady_state_request_makes_no_database_query(call, make_key, django_assert_num_queries):
    _, secret = make_key()
    assert call("get", WHOAMI, key=secret).status_code == 200  # warms the process cache
    with django_assert_num_queries(0):
        assert call("get", WHOAMI, key=secret).status_code == 200
