"""The webhooks API: scopes, modes, other organisations, envelopes and problems."""

import pytest

from tests.apikeys.conftest import call, hot_path, make_key  # noqa: F401  (fixtures)
from webhooks import services
from webhooks.models import Delivery

ALL = ("webhooks:read", "webhooks:manage", "webhooks:secrets")
PAYMENT = {"id": "pay_1", "amount": 1, "currency": "EUR", "status": "succeeded"}


@pytest.fixture
def key(make_key):  # noqa: F811
    return make_key(scopes=ALL)[1]


def test_event_types_are_listed_with_their_schemas(call, key):  # noqa: F811
    response = call("get", "/api/v1/event-types", key=key)
    assert response.status_code == 200
    names = {t["name"] for t in response.json()["data"]}
    assert {"payment.succeeded", "invoice.payment_failed", "webhook.test"} <= names
    assert all("schema" in t and "example" in t for t in response.json()["data"])


def test_no_credential_is_a_401_and_a_missing_scope_a_403(call, make_key):  # noqa: F811
    assert call("get", "/api/v1/webhook-endpoints").status_code == 401
    _, read_only = make_key(scopes=("webhooks:read",))
    response = call("post", "/api/v1/webhook-endpoints", key=read_only, data={"url": "https://example.com/h"})
    assert response.status_code == 403 and response["Content-Type"] == "application/problem+json"


def test_create_list_update_and_delete_an_endpoint(call, key, receiver):  # noqa: F811
    response = call("post", "/api/v1/webhook-endpoints", key=key, data={"url": receiver.url, "event_types": []})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["id"].startswith("whep_") and body["secret"].startswith("whsec_") and body["environment"] == "test"
    endpoint_id = body["id"]
    listing = call("get", "/api/v1/webhook-endpoints", key=key).json()
    assert listing["meta"]["total"] == 1 and "secret" not in listing["data"][0]
    patched = call("patch", f"/api/v1/webhook-endpoints/{endpoint_id}", key=key, data={"description": "orders"})
    assert patched.json()["description"] == "orders"
    assert call("post", f"/api/v1/webhook-endpoints/{endpoint_id}/disable", key=key, data={}).json()["enabled"] is False
    assert call("post", f"/api/v1/webhook-endpoints/{endpoint_id}/enable", key=key).json()["enabled"] is True
    assert call("delete", f"/api/v1/webhook-endpoints/{endpoint_id}", key=key).status_code == 204
    assert call("get", f"/api/v1/webhook-endpoints/{endpoint_id}", key=key).status_code == 404


def test_invalid_urls_and_types_are_validation_problems(call, key, settings):  # noqa: F811
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    for data in (
        {"url": "http://169.254.169.254/"},
        {"url": "ftp://example.com/"},
        {"url": "https://example.com/", "event_types": ["nope.nothing"]},
        {"url": "https://example.com/", "environment": "live"},  # a test key manages test endpoints only
    ):
        response = call("post", "/api/v1/webhook-endpoints", key=key, data=data)
        assert response.status_code == 400, data
        assert response.json()["type"].endswith("/validation-error")


def test_secrets_need_their_scope_and_rotation_keeps_the_old_one_for_a_day(call, make_key, world):  # noqa: F811
    endpoint = services.endpoint_create(organization=world.org, actor=world.owner, livemode=False, url="https://e.com/")
    _, manager = make_key(scopes=("webhooks:read", "webhooks:manage"))
    assert call("get", f"/api/v1/webhook-endpoints/{endpoint.public_id}/secret", key=manager).status_code == 403
    _, secrets_key = make_key(scopes=ALL)
    revealed = call("get", f"/api/v1/webhook-endpoints/{endpoint.public_id}/secret", key=secrets_key)
    assert revealed.json()["secret"] == endpoint.secret and revealed["Cache-Control"] == "no-store"
    rotated = call("post", f"/api/v1/webhook-endpoints/{endpoint.public_id}/rotate-secret", key=secrets_key).json()
    assert rotated["secret"] != endpoint.secret and rotated["previous_secret_valid_until"]


def test_another_organisations_objects_are_404(call, key, world, django_capture_on_commit_callbacks):  # noqa: F811
    theirs = services.endpoint_create(
        organization=world.outsider_org, actor=world.outsider, livemode=False, url="https://e.com/"
    )
    event = services.event_record(organization=world.outsider_org, livemode=False, type="payment.succeeded",
                                  data=PAYMENT)  # fmt: skip
    for path in (
        f"/api/v1/webhook-endpoints/{theirs.public_id}",
        f"/api/v1/webhook-endpoints/{theirs.public_id}/secret",
        f"/api/v1/events/{event.public_id}",
    ):
        assert call("get", path, key=key).status_code == 404, path
    assert call("post", f"/api/v1/webhook-endpoints/{theirs.public_id}/test", key=key, data={}).status_code == 404


def test_a_test_key_sees_only_test_endpoints_and_events(call, key, world):  # noqa: F811
    live = services.endpoint_create(organization=world.org, actor=world.owner, livemode=True, url="https://e.com/")
    services.event_record(organization=world.org, livemode=True, type="payment.succeeded", data=PAYMENT)
    test_event = services.event_record(organization=world.org, livemode=False, type="payment.succeeded", data=PAYMENT)
    assert call("get", "/api/v1/webhook-endpoints", key=key).json()["meta"]["total"] == 0
    assert call("get", f"/api/v1/webhook-endpoints/{live.public_id}", key=key).status_code == 404
    events = call("get", "/api/v1/events", key=key).json()["data"]
    assert [e["id"] for e in events] == [test_event.public_id]


def test_send_test_then_list_deliveries_and_attempts_then_retry(
    call,  # noqa: F811
    key,
    world,
    receiver,
    django_capture_on_commit_callbacks,  # noqa: F811
):
    endpoint = services.endpoint_create(organization=world.org, actor=world.owner, livemode=False, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        sent = call(
            "post", f"/api/v1/webhook-endpoints/{endpoint.public_id}/test", key=key, data={"type": "payment.failed"}
        )
    assert sent.status_code == 202
    delivery_id = sent.json()["id"]
    listing = call("get", f"/api/v1/webhook-deliveries?endpoint={endpoint.public_id}&status=succeeded", key=key)
    assert [d["id"] for d in listing.json()["data"]] == [delivery_id]
    assert call("get", "/api/v1/webhook-deliveries?status=bogus", key=key).status_code == 400
    attempts = call("get", f"/api/v1/webhook-deliveries/{delivery_id}/attempts", key=key).json()["data"]
    assert attempts[0]["status_code"] == 200 and "webhook-signature" in attempts[0]["request_headers"]
    one = call("get", f"/api/v1/webhook-deliveries/{delivery_id}/attempts/{attempts[0]['id']}", key=key)
    assert one.json()["request_body"] == receiver.requests[0].body.decode()
    with django_capture_on_commit_callbacks(execute=True):
        retried = call("post", f"/api/v1/webhook-deliveries/{delivery_id}/retry", key=key)
    assert retried.status_code == 202 and len(receiver.requests) == 2
    assert Delivery.objects.get(public_id=delivery_id).attempt_count == 2


def test_resend_and_recover(call, key, world, receiver, django_capture_on_commit_callbacks):  # noqa: F811
    endpoint = services.endpoint_create(organization=world.org, actor=world.owner, livemode=False, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        event = services.event_record(organization=world.org, livemode=False, type="payment.succeeded", data=PAYMENT)
    with django_capture_on_commit_callbacks(execute=True):
        resent = call(
            "post", f"/api/v1/events/{event.public_id}/resend", key=key, data={"endpoint": endpoint.public_id}
        )
    assert resent.status_code == 202 and resent.json()["webhook_id"] == event.public_id
    Delivery.objects.filter(endpoint=endpoint).update(status="failed", next_attempt_at=None)
    recovered = call("post", f"/api/v1/webhook-endpoints/{endpoint.public_id}/recover", key=key,
                     data={"since": "2000-01-01T00:00:00Z"})  # fmt: skip
    assert recovered.json() == {"recovered": 2}
    assert len(receiver.requests) == 4


def test_create_is_idempotent_with_an_idempotency_key(call, key, receiver):  # noqa: F811
    data = {"url": receiver.url}
    first = call("post", "/api/v1/webhook-endpoints", key=key, data=data, HTTP_IDEMPOTENCY_KEY="abc")
    again = call("post", "/api/v1/webhook-endpoints", key=key, data=data, HTTP_IDEMPOTENCY_KEY="abc")
    assert first.json()["id"] == again.json()["id"] and again["Idempotent-Replayed"] == "true"
