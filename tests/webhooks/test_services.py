"""The outbox, fan-out, one attempt, the retry schedule and endpoint operations."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from accounts.models import AuditLog
from webhooks import services
from webhooks.models import Delivery, Endpoint, Event

PAYMENT = {"id": "pay_1", "amount": 2500, "currency": "EUR", "status": "succeeded"}


@pytest.fixture
def record(world, django_capture_on_commit_callbacks):
    def _record(type="payment.succeeded", data=None, livemode=False, org=None):
        with django_capture_on_commit_callbacks(execute=True):
            return services.event_record(
                organization=org or world.org, livemode=livemode, type=type, data=data or dict(PAYMENT)
            )

    return _record


def _due_now(delivery):
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


# ---- the retry schedule ------------------------------------------------------------------


def test_the_schedule_is_5s_5m_30m_2h_5h_10h_10h_after_the_first_attempt():
    delays = [services.retry_delay(attempts_made=n, rand=lambda: 0.5) for n in range(1, 8)]
    assert delays == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert services.retry_delay(attempts_made=8) is None
    assert services.MAX_ATTEMPTS == 8


def test_each_delay_has_up_to_ten_percent_jitter():
    assert services.retry_delay(attempts_made=2, rand=lambda: 0.0) == pytest.approx(270)
    assert services.retry_delay(attempts_made=2, rand=lambda: 1.0) == pytest.approx(330)


def test_retry_after_replaces_the_delay_within_a_cap():
    assert services.retry_delay(attempts_made=1, retry_after=120) == 120
    assert services.retry_delay(attempts_made=1, retry_after=10**9) == services.MAX_RETRY_AFTER
    assert services.retry_delay(attempts_made=8, retry_after=5) is None


# ---- the outbox --------------------------------------------------------------------------


def test_an_unknown_type_or_misshapen_data_is_refused(world):
    with pytest.raises(ValueError, match="Unknown event type"):
        services.event_record(organization=world.org, livemode=False, type="payment.exploded", data={})
    with pytest.raises(ValueError, match="amount is required"):
        services.event_record(organization=world.org, livemode=False, type="payment.succeeded", data={"id": "x"})
    with pytest.raises(ValueError, match="256 KB"):
        services.event_record(
            organization=world.org, livemode=False, type="webhook.test", data={"message": "x" * 300_000}
        )
    assert not Event.objects.exists()


def test_a_rolled_back_transaction_records_and_sends_nothing(world, receiver, make_endpoint):
    make_endpoint(receiver.url)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        services.event_record(organization=world.org, livemode=False, type="payment.succeeded", data=PAYMENT)
        raise Boom
    assert not Event.objects.exists() and not Delivery.objects.exists()
    assert receiver.requests == []


def test_after_commit_every_subscribed_enabled_endpoint_of_the_mode_gets_a_signed_delivery(
    world, receiver, make_endpoint, record
):
    everything = make_endpoint(receiver.url)
    payments = make_endpoint(receiver.url + "?p", event_types=["payment.succeeded"])
    make_endpoint(receiver.url + "?refunds", event_types=["refund.succeeded"])
    disabled = make_endpoint(receiver.url + "?off")
    services.endpoint_disable(endpoint=disabled, reason="test", actor=None)
    make_endpoint(receiver.url + "?other-org", org=world.outsider_org)
    event = record()
    deliveries = Delivery.objects.filter(event=event)
    assert {d.endpoint_id for d in deliveries} == {everything.pk, payments.pk}
    assert all(d.status == "succeeded" and d.attempt_count == 1 for d in deliveries)
    assert sorted(r.path for r in receiver.requests) == ["/hook", "/hook?p"]
    for got in receiver.requests:
        endpoint = everything if got.path == "/hook" else payments
        payload = Webhook(endpoint.secret).verify(got.body, got.headers)
        assert payload["id"] == event.public_id == got.headers["webhook-id"]
        assert payload["data"] == PAYMENT and payload["type"] == "payment.succeeded"
    assert Event.objects.get(pk=event.pk).fanned_out_at is not None


def test_live_events_go_only_to_live_endpoints(world, receiver, make_endpoint, record):
    make_endpoint(receiver.url)
    record(livemode=True)
    assert receiver.requests == [] and not Delivery.objects.exists()


def test_fan_out_is_idempotent_and_the_sweeper_catches_a_lost_one(world, receiver, make_endpoint):
    make_endpoint(receiver.url)
    event = services.event_record(organization=world.org, livemode=False, type="payment.succeeded", data=PAYMENT)
    # The on-commit callback never ran (the test transaction never commits): the sweeper catches it.
    Event.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert services.events_sweep_unfanned() == 1
    assert services.event_fan_out(event_id=event.pk) == 0
    assert Delivery.objects.filter(event=event).count() == 1


# ---- attempts ----------------------------------------------------------------------------


def test_a_failure_is_recorded_and_rescheduled_and_not_retried_early(world, receiver, make_endpoint, record):
    receiver.status, receiver.body = 500, b"oops"
    endpoint = make_endpoint(receiver.url)
    record()
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempt_count, delivery.last_status_code) == ("pending", 1, 500)
    wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert 4 <= wait <= 6
    attempt = delivery.attempts.get()
    assert (attempt.error_class, attempt.response_body, attempt.succeeded) == ("5xx", "oops", False)
    assert attempt.request_headers["webhook-id"] == delivery.webhook_id
    assert attempt.request_body.encode() == receiver.requests[0].body
    assert services.delivery_attempt(delivery_id=delivery.pk) is None  # not due yet
    receiver.status = 200
    _due_now(delivery)
    assert services.delivery_attempt(delivery_id=delivery.pk).succeeded
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 2)
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1  # stable across retries


def test_a_second_sender_backs_off_while_the_first_holds_the_lease(world, receiver, make_endpoint, record):
    receiver.status = 500
    endpoint = make_endpoint(receiver.url)
    record()
    delivery = Delivery.objects.get(endpoint=endpoint)
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now(), sending_until=timezone.now() + timedelta(seconds=60)
    )
    assert services.delivery_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == 1


def test_the_last_failed_attempt_fails_the_delivery_and_is_audited(world, receiver, make_endpoint, record):
    receiver.status = 500
    endpoint = make_endpoint(receiver.url)
    record()
    delivery = Delivery.objects.get(endpoint=endpoint)
    for _ in range(services.MAX_ATTEMPTS - 1):
        _due_now(delivery)
        services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count, delivery.next_attempt_at) == ("failed", 8, None)
    assert len(receiver.requests) == 8
    assert AuditLog.objects.filter(action="webhook.delivery_failed", target_id=delivery.public_id).exists()


def test_410_disables_the_endpoint_and_emails_the_admins(
    world, receiver, make_endpoint, record, django_capture_on_commit_callbacks
):
    receiver.status = 410
    endpoint = make_endpoint(receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        record()
    endpoint.refresh_from_db()
    assert not endpoint.enabled and "410" in endpoint.disabled_reason
    assert Delivery.objects.get(endpoint=endpoint).status == "failed"
    recipients = {address for message in mail.outbox for address in message.to}
    assert recipients == {world.owner.email, world.admin.email}


def test_429_honours_retry_after(world, receiver, make_endpoint, record):
    receiver.status, receiver.headers = 429, {"Retry-After": "90"}
    endpoint = make_endpoint(receiver.url)
    record()
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds() == pytest.approx(90, abs=2)


def test_an_endpoint_failing_for_five_days_is_disabled(world, receiver, make_endpoint, record):
    receiver.status = 500
    endpoint = make_endpoint(receiver.url)
    Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=5, minutes=1))
    record()
    endpoint.refresh_from_db()
    assert not endpoint.enabled and "5 days" in endpoint.disabled_reason


def test_a_success_clears_the_failing_clock(world, receiver, make_endpoint, record):
    endpoint = make_endpoint(receiver.url)
    Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=4))
    record()
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.enabled


def test_a_rate_limited_endpoint_defers_without_using_an_attempt(world, receiver, make_endpoint, record):
    endpoint = make_endpoint(receiver.url, rate_limit_per_second=1)
    record()
    record()
    deliveries = list(Delivery.objects.filter(endpoint=endpoint).order_by("pk"))
    sent = [d for d in deliveries if d.status == "succeeded"]
    deferred = [d for d in deliveries if d.status == "pending"]
    # Both may land in different seconds; at most one per second gets through.
    assert len(sent) >= 1 and all(d.attempt_count == 0 for d in deferred)


def test_custom_headers_are_sent_but_cannot_override_the_signature(world, receiver, make_endpoint, record):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        make_endpoint(receiver.url, headers={"webhook-signature": "v1,forged"})
    make_endpoint(receiver.url, headers={"X-Team": "payments"})
    record()
    assert receiver.requests[0].headers["x-team"] == "payments"


# ---- secrets, retries, resends -----------------------------------------------------------


def test_after_rotation_both_secrets_sign_for_24_hours(world, receiver, make_endpoint, record):
    endpoint = make_endpoint(receiver.url)
    old = endpoint.secret
    new = services.endpoint_rotate_secret(endpoint=endpoint, actor=world.owner)
    assert new != old and new.startswith("whsec_")
    record()
    got = receiver.requests[0]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(got.body, got.headers)
    Webhook(new).verify(got.body, got.headers)
    endpoint.refresh_from_db()
    later = timezone.now() + timedelta(hours=24, seconds=1)
    assert endpoint.signing_secrets(later) == [new]


def test_the_secret_is_stored_encrypted(world, make_endpoint):
    endpoint = make_endpoint("http://127.0.0.1:9/")
    assert endpoint.secret not in endpoint.secret_encrypted
    assert Endpoint.objects.get(pk=endpoint.pk).secret == endpoint.secret


def test_recover_resends_failed_deliveries_since_a_time(world, receiver, make_endpoint, record):
    endpoint = make_endpoint(receiver.url)
    receiver.status = 500
    record()
    record()
    Delivery.objects.filter(endpoint=endpoint).update(status="failed", next_attempt_at=None)
    old = Delivery.objects.filter(endpoint=endpoint).earliest("created_at")
    Delivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    receiver.status = 200
    count = services.deliveries_recover(endpoint=endpoint, since=timezone.now() - timedelta(days=1), actor=world.owner)
    assert count == 1
    services.deliveries_dispatch()
    statuses = dict(Delivery.objects.filter(endpoint=endpoint).values_list("pk", "status"))
    assert statuses[old.pk] == "failed" and sorted(statuses.values()) == ["failed", "succeeded"]


def test_retry_and_resend_keep_the_webhook_id(
    world, receiver, make_endpoint, record, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(receiver.url)
    event = record()
    delivery = Delivery.objects.get(endpoint=endpoint)
    with django_capture_on_commit_callbacks(execute=True):
        services.delivery_retry(delivery=delivery, actor=world.owner)
    with django_capture_on_commit_callbacks(execute=True):
        resend = services.event_resend(event=event, endpoint=endpoint, actor=world.owner)
    assert resend.is_resend and Delivery.objects.filter(endpoint=endpoint).count() == 2
    assert [r.headers["webhook-id"] for r in receiver.requests] == [event.public_id] * 3
    assert Delivery.objects.get(pk=delivery.pk).attempt_count == 2


def test_send_test_carries_the_chosen_types_example(world, receiver, make_endpoint, django_capture_on_commit_callbacks):
    endpoint = make_endpoint(receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        services.endpoint_send_test(endpoint=endpoint, actor=world.owner, type="refund.failed")
    import json

    body = json.loads(receiver.requests[0].body)
    assert body["type"] == "webhook.test" and body["data"]["requested_type"] == "refund.failed"


def test_the_receiver_keeps_the_last_50_and_verifies_signatures(world, make_endpoint):
    from portal.lib import webhook_signing

    receiver = services.receiver_for(organization=world.org)
    endpoint = make_endpoint(services.receiver_url(receiver))
    body = b'{"x":1}'
    signed = webhook_signing.headers(
        secrets=[endpoint.secret], msg_id="evt_x", timestamp=int(timezone.now().timestamp()), body=body
    )
    good = services.receiver_store(receiver=receiver, headers=signed, body=body)
    assert good.verified_endpoint == endpoint
    bad = services.receiver_store(receiver=receiver, headers={**signed, "webhook-id": "evt_y"}, body=body)
    assert bad.verified_endpoint is None
    for _ in range(60):
        services.receiver_store(receiver=receiver, headers={}, body=b"{}")
    assert receiver.requests.count() == services.RECEIVER_KEEP


def test_a_disabled_endpoints_pending_delivery_fails_instead_of_sending(world, receiver, make_endpoint, record):
    receiver.status = 500
    endpoint = make_endpoint(receiver.url)
    record()
    services.endpoint_disable(endpoint=endpoint, reason="paused", actor=world.owner)
    delivery = Delivery.objects.get(endpoint=endpoint)
    _due_now(delivery)
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and len(receiver.requests) == 1
