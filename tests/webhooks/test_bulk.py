"""The bulk delivery path (webhooks/bulk.py): a send batch is claimed in one statement, its
attempts inserted in one and its deliveries' new states written in one, whatever mix of
outcomes it had; the fan-out makes each delivery once, born claimed when asked. Runs in
both profiles: PostgreSQL takes the jsonb_to_recordset statements, SQLite the ORM ones."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuditLog
from portal.lib import ids, ssrf
from tests.webhooks.conftest import Receiver, start_receiver
from webhooks import http as webhook_http
from webhooks import services
from webhooks.models import Attempt, Delivery, Endpoint, Event

PAYMENT = {"id": "pay_bulk", "amount": 100, "currency": "EUR", "status": "succeeded"}


@pytest.fixture
def by_path():
    """One receiver answering per path: /ok 200, /down 500, /busy 429 (Retry-After 120),
    /gone 410, /nul 500 with a NUL in the body; /flaky fails its first request only."""
    answers = {
        "/ok": (200, {}, b"ok"),
        "/down": (500, {}, b"oops"),
        "/busy": (429, {"Retry-After": "120"}, b"slow down"),
        "/gone": (410, {}, b"gone"),
        "/nul": (500, {}, b"bad\x00body"),
    }
    seen: list[str] = []

    def respond(got):
        path = got.path.split("?")[0]
        seen.append(path)
        if path == "/flaky":
            return (500, {}, b"first") if seen.count("/flaky") == 1 else (200, {}, b"ok")
        if path == "/recovers-late":
            return (200, {}, b"ok") if seen.count("/recovers-late") == 1 else (500, {}, b"later")
        return answers[path]

    receiver = Receiver(respond=respond)
    server = start_receiver(receiver)
    receiver.base = receiver.url.removesuffix("/hook")
    yield receiver
    server.shutdown()
    server.server_close()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/refused"


def _fan_out(world, events_per_endpoint: int = 1) -> list[int]:
    """Record events without sending them (no on-commit callbacks run in a test transaction),
    fan them out unclaimed, and return the deliveries' ids in endpoint order."""
    with transaction.atomic():
        events = [
            services.event_record(organization=world.org, livemode=False, type="payment.succeeded", data=PAYMENT)
            for _ in range(events_per_endpoint)
        ]
    services.events_fan_out(event_ids=[e.pk for e in events])
    return list(Delivery.objects.order_by("endpoint_id", "pk").values_list("pk", flat=True))


def test_a_batch_of_mixed_outcomes_records_every_attempt_and_schedule(world, by_path, make_endpoint):
    urls = {name: f"{by_path.base}/{name}" for name in ("ok", "down", "busy", "gone", "nul")}
    urls["refused"] = _closed_port_url()
    endpoints = {name: make_endpoint(url) for name, url in urls.items()}
    ids_ = _fan_out(world)
    assert len(ids_) == len(endpoints)

    attempts = services.deliveries_attempt(delivery_ids=ids_)

    assert [a.delivery_id for a in attempts] == ids_  # in the order asked, all recorded
    assert all(a.pk for a in attempts) and Attempt.objects.count() == len(ids_)
    got = {name: Delivery.objects.get(endpoint=e) for name, e in endpoints.items()}
    attempt = {name: Attempt.objects.get(delivery=d) for name, d in got.items()}
    for name, d in got.items():
        assert d.attempt_count == 1 and d.sending_until is None and d.dispatched_until is None, name
        assert d.last_attempt_at == attempt[name].started_at and attempt[name].number == 1, name

    ok = got["ok"]
    assert (ok.status, ok.last_status_code, ok.last_error, ok.next_attempt_at) == ("succeeded", 200, "", None)
    assert ok.completed_at is not None and attempt["ok"].succeeded and attempt["ok"].response_body == "ok"
    assert "webhook-signature" in attempt["ok"].request_headers

    down = got["down"]
    assert (down.status, down.last_status_code, down.last_error) == ("pending", 500, "HTTP 500 Internal Server Error")
    assert 4 <= (down.next_attempt_at - down.last_attempt_at).total_seconds() <= 6  # 5 s +-10 %
    assert (attempt["down"].error_class, attempt["down"].succeeded) == ("5xx", False)

    busy = got["busy"]
    assert busy.status == "pending" and busy.last_status_code == 429
    assert (busy.next_attempt_at - busy.last_attempt_at).total_seconds() == pytest.approx(120, abs=2)
    assert attempt["busy"].response_headers["retry-after"] == "120"

    gone = got["gone"]
    assert (gone.status, gone.next_attempt_at, gone.last_status_code) == ("failed", None, 410)
    endpoints["gone"].refresh_from_db()
    assert not endpoints["gone"].enabled and "410" in endpoints["gone"].disabled_reason

    refused = got["refused"]
    assert refused.status == "pending" and refused.last_status_code is None
    assert attempt["refused"].error_class == "connection" and attempt["refused"].status_code is None
    assert attempt["refused"].request_headers["Content-Length"]  # what would have gone out

    nul = attempt["nul"]  # PostgreSQL text cannot hold NUL: it becomes U+FFFD there
    assert nul.response_body in {"bad\x00body", "bad\ufffdbody"} and got["nul"].status == "pending"

    for name in ("down", "busy", "refused", "nul"):  # failures start the endpoint's failing clock
        endpoints[name].refresh_from_db()
        assert endpoints[name].failing_since == got[name].last_attempt_at, name
    endpoints["ok"].refresh_from_db()
    assert endpoints["ok"].failing_since is None


def test_the_last_attempt_in_a_batch_fails_for_good_and_is_audited(world, by_path, make_endpoint):
    endpoint = make_endpoint(f"{by_path.base}/down")
    [pk] = _fan_out(world)
    Delivery.objects.filter(pk=pk).update(attempt_count=services.MAX_ATTEMPTS - 1)
    services.deliveries_attempt(delivery_ids=[pk])
    delivery = Delivery.objects.get(pk=pk)
    assert (delivery.status, delivery.attempt_count, delivery.next_attempt_at) == ("failed", 8, None)
    assert Attempt.objects.get(delivery=delivery).number == 8
    assert AuditLog.objects.filter(action="webhook.delivery_failed", target_id=delivery.public_id).exists()
    endpoint.refresh_from_db()
    assert endpoint.enabled  # a failed delivery alone does not disable the endpoint


@pytest.mark.parametrize(("path", "clock_runs"), [("flaky", False), ("recovers-late", True)])
def test_the_failing_clock_follows_the_order_of_a_batchs_attempts(
    world, by_path, make_endpoint, monkeypatch, path, clock_runs
):
    monkeypatch.setattr(services, "SEND_CONCURRENCY", 1)  # one after the other, in order
    endpoint = make_endpoint(f"{by_path.base}/{path}")
    ids_ = _fan_out(world, events_per_endpoint=3)
    services.deliveries_attempt(delivery_ids=ids_)
    endpoint.refresh_from_db()
    attempts = list(Attempt.objects.filter(delivery__endpoint=endpoint).order_by("started_at"))
    if clock_runs:  # success, then failures: the clock starts at the first failure after the success
        assert [a.succeeded for a in attempts] == [True, False, False]
        assert endpoint.failing_since == attempts[1].started_at
    else:  # a failure, then successes: any success stops the clock
        assert [a.succeeded for a in attempts] == [False, True, True]
        assert endpoint.failing_since is None


def test_an_endpoint_already_failing_for_five_days_is_disabled_by_a_batch(world, by_path, make_endpoint):
    endpoint = make_endpoint(f"{by_path.base}/down")
    long_ago = timezone.now() - timedelta(days=5, minutes=1)
    Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=long_ago)
    services.deliveries_attempt(delivery_ids=_fan_out(world, events_per_endpoint=2))
    endpoint.refresh_from_db()
    assert not endpoint.enabled and "5 days" in endpoint.disabled_reason
    assert endpoint.failing_since == long_ago  # the clock kept its start


def test_a_row_moved_on_by_someone_else_is_left_alone_but_its_attempt_is_kept(
    world, by_path, make_endpoint, monkeypatch
):
    make_endpoint(f"{by_path.base}/ok")
    first, second = _fan_out(world, events_per_endpoint=2)
    send_batch = services._send_batch

    def and_meanwhile(*args, **kwargs):
        sent = send_batch(*args, **kwargs)
        # Another sender (after our lease ran out, say) made and recorded the attempt first.
        Delivery.objects.filter(pk=second).update(attempt_count=1, status="succeeded", next_attempt_at=None)
        return sent

    monkeypatch.setattr(services, "_send_batch", and_meanwhile)
    attempts = services.deliveries_attempt(delivery_ids=[first, second])
    assert len(attempts) == 2 and Attempt.objects.filter(delivery_id=second).count() == 1
    untouched = Delivery.objects.get(pk=second)
    assert (untouched.status, untouched.attempt_count, untouched.last_attempt_at) == ("succeeded", 1, None)
    assert Delivery.objects.get(pk=first).status == "succeeded"


@pytest.mark.postgres
def test_a_batch_takes_the_same_statements_whatever_its_size(world, by_path, make_endpoint, monkeypatch):
    monkeypatch.setattr(services, "SEND_BATCH", 500)
    make_endpoint(f"{by_path.base}/ok")
    make_endpoint(f"{by_path.base}/down")
    ids_ = _fan_out(world, events_per_endpoint=30)
    ok, down = ids_[:30], ids_[30:]
    batches = [ok[:2] + down[:2], ok[2:4] + down[2:4], ok[4:] + down[4:]]  # successes and failures in each
    counts = []
    for batch in batches:
        with CaptureQueriesContext(connection) as queries:
            assert services.deliveries_attempt(delivery_ids=batch, want_attempts=False) == []
        counts.append(len(queries))
    assert Attempt.objects.count() == len(ids_)
    # The first batch also starts the failing endpoint's clock; after that, 4 deliveries or 52
    # take the same statements: claim, endpoints, attempts, deliveries, and the transactions.
    assert counts[1] == counts[2] <= 10, counts


def test_fan_out_makes_each_delivery_once_born_claimed_when_asked(world, make_endpoint):
    make_endpoint("http://127.0.0.1:9/a")
    make_endpoint("http://127.0.0.1:9/b", event_types=["refund.succeeded"])  # not subscribed
    with transaction.atomic():
        events = [
            services.event_record(organization=world.org, livemode=False, type="payment.succeeded", data=PAYMENT)
            for _ in range(3)
        ]
    event_ids = [e.pk for e in events]
    made = services._events_fan_out(event_ids, claim=True)
    assert sorted(event_id for _, _, event_id in made) == sorted(event_ids)
    assert services._events_fan_out(event_ids, claim=True) == []  # fanned out already
    assert services.events_fan_out(event_ids=event_ids) == []
    deliveries = list(Delivery.objects.all())
    assert len(deliveries) == 3 and {d.pk for d in deliveries} == {pk for pk, _, _ in made}
    assert all(d.dispatched_until is not None and d.status == "pending" and d.attempt_count == 0 for d in deliveries)
    assert {d.webhook_id for d in deliveries} == {e.public_id for e in events}
    assert all(e.fanned_out_at is not None for e in Event.objects.filter(pk__in=event_ids))


def test_an_unclaimed_fan_out_leaves_the_deliveries_to_the_dispatcher(world, make_endpoint):
    make_endpoint("http://127.0.0.1:9/a")
    event = services.event_record(organization=world.org, livemode=False, type="payment.succeeded", data=PAYMENT)
    assert services.events_fan_out(event_ids=[event.pk]) == [event.pk]
    delivery = Delivery.objects.get(event=event)
    assert delivery.dispatched_until is None and delivery.created_at == delivery.next_attempt_at
    assert delivery.event_type == "payment.succeeded" and delivery.organization_id == world.org.pk
    assert services.deliveries_claim_due() == [delivery.pk]


def test_the_outbox_row_is_the_event_returned(world):
    event = services.event_record(organization=world.org, livemode=False, type="payment.succeeded", data=PAYMENT)
    stored = Event.objects.get(pk=event.pk)
    assert (stored.public_id, stored.type, stored.data, stored.created_at, stored.fanned_out_at) == (
        event.public_id, "payment.succeeded", PAYMENT, event.created_at, None,
    )  # fmt: skip
    assert not event._state.adding


def test_public_ids_keep_the_portals_form():
    made = services._public_ids("whatt", 500)
    assert len(set(made)) == 500
    for public_id in made:
        prefix, _, tail = public_id.partition("_")
        assert prefix == "whatt" and len(tail) == 20 and set(tail) <= set(ids.BASE62)


def test_a_pool_checks_each_url_once_per_batch(monkeypatch, receiver):
    calls = []
    real = ssrf.resolve

    def counting(url, **kwargs):
        calls.append(url)
        return real(url, **kwargs)

    monkeypatch.setattr(ssrf, "resolve", counting)
    with webhook_http.Pool() as pool:
        for _ in range(3):
            assert webhook_http.post(url=receiver.url, headers={}, body=b"{}", pool=pool).ok
        for _ in range(2):  # a refused URL is refused every time, checked once
            refused = webhook_http.post(url="http://169.254.169.254/x", headers={}, body=b"{}", pool=pool)
            assert refused.error_class == "blocked" and "metadata" in refused.error
    assert calls == [receiver.url, "http://169.254.169.254/x"]
    assert len(receiver.requests) == 3
