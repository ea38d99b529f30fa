"""The keys management API: envelope, life cycle, tenancy, idempotency, leak reports."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditLog
from apikeys.models import ApiKey, IdempotencyRecord
from portal.api import idempotency_records_purge

KEYS = "/api/v1/keys"
MANAGER_SCOPES = ("keys:read", "keys:manage", "payments:read", "payments:write")


@pytest.fixture
def manager(make_key):
    """A test key that may manage keys, created by the owner."""
    return make_key(name="manager", scopes=MANAGER_SCOPES)


def test_the_list_uses_the_envelope_with_pages_sorting_and_filters(
    call, make_key, manager, django_assert_max_num_queries
):
    _, secret = manager
    for name in ("charlie", "alpha", "bravo"):
        make_key(name=name)
    call("get", KEYS, key=secret)  # warm the key cache
    with django_assert_max_num_queries(4):
        response = call("get", f"{KEYS}?per_page=2&sort=name:asc", key=secret)
    body = response.json()
    assert [row["name"] for row in body["data"]] == ["alpha", "bravo"]
    assert body["meta"] == {"page": 1, "per_page": 2, "total": 4, "total_pages": 2}
    assert body["links"]["prev"] is None
    assert "page=2" in body["links"]["next"] and "page=2" in body["links"]["last"]
    second = call("get", body["links"]["next"], key=secret).json()
    assert [row["name"] for row in second["data"]] == ["charlie", "manager"]
    assert second["links"]["next"] is None

    assert call("get", f"{KEYS}?search=bravo", key=secret).json()["meta"]["total"] == 1
    assert call("get", f"{KEYS}?status=revoked", key=secret).json()["meta"]["total"] == 0
    only = call("get", f"{KEYS}?fields=name", key=secret).json()["data"][0]
    assert set(only) == {"id", "name"}
    assert call("get", f"{KEYS}?per_page=1000", key=secret).json()["meta"]["per_page"] == 100


def test_a_bad_sort_or_page_is_a_validation_problem(call, manager):
    _, secret = manager
    body = call("get", f"{KEYS}?sort=digest:asc", key=secret).json()
    assert body["status"] == 400 and "sort" in body["errors"]
    assert call("get", f"{KEYS}?page=0", key=secret).json()["errors"] == {"page": ["Must be a positive integer."]}


def test_creating_a_key_shows_its_secret_once(call, manager, world):
    _, secret = manager
    response = call("post", KEYS, key=secret, data={"name": "worker", "scopes": ["payments:read"]})
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["secret"].startswith("pk_test_") and created["secret"].endswith(created["last4"])
    assert created["environment"] == "test" and created["scopes"] == ["payments:read"]
    assert created["created_by"] == world.owner.email  # the acting key's creator

    again = call("get", f"{KEYS}/{created['id']}", key=secret).json()
    assert "secret" not in again and again["prefix"] == created["secret"][:20]
    assert call("get", "/api/v1/keys/current", key=created["secret"]).status_code == 200


def test_a_key_cannot_create_a_key_with_scopes_beyond_its_own(call, manager):
    _, secret = manager
    response = call("post", KEYS, key=secret, data={"name": "x", "scopes": ["refunds:write"]})
    assert response.status_code == 400
    assert response.json()["errors"]["scopes"] == ["You cannot grant refunds:write: you do not hold it yourself."]


def test_a_test_key_cannot_create_live_keys(call, manager):
    _, secret = manager
    response = call("post", KEYS, key=secret, data={"name": "x", "environment": "live", "scopes": ["payments:read"]})
    assert response.status_code == 400 and "environment" in response.json()["errors"]


def test_a_key_acting_for_a_read_only_member_cannot_create_keys(call, make_key, world):
    membership = world.membership(world.owner)
    membership.role = "read_only"
    _, secret = make_key(scopes=("keys:read", "keys:manage"))
    membership.save(update_fields=["role"])
    response = call("post", KEYS, key=secret, data={"name": "x", "scopes": ["keys:read"]})
    assert response.status_code == 403 and "keys:create" in response.json()["detail"]


def test_update_rotate_and_revoke(call, manager, make_key):
    _, secret = manager
    target, target_secret = make_key(name="target", scopes=["payments:read"])
    path = f"{KEYS}/{target.public_id}"

    patched = call("patch", path, key=secret, data={"name": "renamed", "description": "nightly job"}).json()
    assert (patched["name"], patched["description"]) == ("renamed", "nightly job")

    rotated = call("post", f"{path}/rotate", key=secret, data={"grace": "1h"}).json()
    assert rotated["secret"] != target_secret and rotated["previous_secret_valid_until"]
    assert call("get", "/api/v1/keys/current", key=target_secret).status_code == 200  # within grace

    revoked = call("post", f"{path}/revoke", key=secret, data={"reason": "rotated out"})
    assert revoked.json()["status"] == "revoked"
    assert list(
        AuditLog.objects.filter(target_id=target.public_id).order_by("created_at").values_list("action", flat=True)
    ) == ["apikey.created", "apikey.updated", "apikey.rotated", "apikey.revoked"]


def test_another_organisations_key_is_not_found(call, manager, make_key, world):
    _, secret = manager
    theirs, _ = make_key(user=world.outsider, org=world.outsider_org)
    for method, suffix in (("get", ""), ("patch", ""), ("post", "/rotate"), ("post", "/revoke")):
        response = call(method, f"{KEYS}/{theirs.public_id}{suffix}", key=secret, data={})
        assert response.status_code == 404, (method, suffix)
        assert response.json()["type"].endswith("/problems/not-found")
    bulk = call("post", f"{KEYS}/bulk", key=secret, data={"action": "revoke", "ids": [theirs.public_id]})
    assert bulk.status_code == 404
    assert ApiKey.objects.get(pk=theirs.pk).revoked_at is None


def test_bulk_rotate_returns_every_new_secret(call, manager, make_key):
    _, secret = manager
    ids = [make_key(name=f"k{i}")[0].public_id for i in range(2)]
    body = call("post", f"{KEYS}/bulk", key=secret, data={"action": "rotate", "ids": ids, "grace": "24h"}).json()
    assert body["count"] == 2 and set(body["secrets"]) == set(ids)
    extend = call("post", f"{KEYS}/bulk", key=secret, data={"action": "extend", "ids": ids})
    assert extend.status_code == 400 and "expires_at" in extend.json()["errors"]


def test_an_idempotency_key_replays_the_first_answer_and_refuses_a_different_body(call, manager):
    _, secret = manager
    data = {"name": "once", "scopes": ["payments:read"]}
    first = call("post", KEYS, key=secret, data=data, HTTP_IDEMPOTENCY_KEY="abc-1")
    replay = call("post", KEYS, key=secret, data=data, HTTP_IDEMPOTENCY_KEY="abc-1")
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json() and replay["Idempotent-Replayed"] == "true"
    assert ApiKey.objects.filter(name="once").count() == 1

    other = call("post", KEYS, key=secret, data={**data, "name": "twice"}, HTTP_IDEMPOTENCY_KEY="abc-1")
    assert other.status_code == 422
    assert other.json()["type"].endswith("/problems/idempotency-key-reused")


def test_a_request_still_running_under_the_same_idempotency_key_gets_a_409(call, manager):
    key, secret = manager
    data = {"name": "racing", "scopes": ["payments:read"]}
    fingerprint = hashlib.sha256(b"\0".join([b"POST", KEYS.encode(), json.dumps(data).encode()])).hexdigest()
    IdempotencyRecord.objects.create(caller=key.public_id, key="race-1", fingerprint=fingerprint)
    response = call("post", KEYS, key=secret, data=data, HTTP_IDEMPOTENCY_KEY="race-1")
    assert response.status_code == 409
    assert not ApiKey.objects.filter(name="racing").exists()


def test_idempotency_answers_are_forgotten_after_a_day(call, manager):
    _, secret = manager
    call("post", KEYS, key=secret, data={"name": "day-one", "scopes": ["payments:read"]}, HTTP_IDEMPOTENCY_KEY="d1")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert idempotency_records_purge() == 1
    again = call(
        "post", KEYS, key=secret, data={"name": "day-two", "scopes": ["payments:read"]}, HTTP_IDEMPOTENCY_KEY="d1"
    )
    assert again.status_code == 201 and again.json()["name"] == "day-two"


def test_a_signed_in_member_can_use_the_api_through_the_session(login, world):
    client = login(world.teammate)
    session = client.session
    session["current_org"] = world.org.public_id
    session.save()
    response = client.post(KEYS, data={"name": "mine", "scopes": ["payments:read"]}, content_type="application/json")
    assert response.status_code == 201, response.content
    assert client.get(KEYS).json()["meta"]["total"] == 1


def test_the_leak_report_is_public_answers_the_same_and_is_throttled(call, make_key, world):
    live, full = make_key(user=world.admin, environment="live", scopes=["payments:read"])
    assert call("post", f"{KEYS}/leaked", data={"key": "nonsense"}).json() == {"received": True}
    response = call("post", f"{KEYS}/leaked", data={"key": full})
    assert response.status_code == 202 and response.json() == {"received": True}
    assert ApiKey.objects.get(pk=live.pk).revoked_at is not None
    codes = [call("post", f"{KEYS}/leaked", data={"key": "x"}).status_code for _ in range(30)]
    assert codes.count(429) == 2  # 30 a minute per address


def test_the_schema_describes_the_keys_api(client, db):
    schema = client.get("/api/v1/schema").content.decode()
    for path in ("/api/v1/keys:", "/api/v1/keys/{key_id}/rotate:", "/api/v1/keys/leaked:", "apiKeyBearer"):
        assert path in schema
