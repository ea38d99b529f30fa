"""Batched delivery: one fan-out per transaction, several deliveries per send task, keep-alive
connections reused only for the same checked address, leases released when a batch runs long."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction
from django.utils import timezone

from webhooks import http as webhook_http
from webhooks import services
from webhooks.models import Attempt, Delivery

PAYMENT = {"id": "pay_b", "amount": 100, "currency": "EUR", "status": "succeeded"}


class KeepAliveReceiver:
    """HTTP/1.1 with keep-alive; remembers each request's client port (one per connection)."""

    def __init__(self, delay: float = 0.0):
        self.ports: list[int] = []
        self.delay = delay
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.ports.append(self.client_address[1])
                time.sleep(outer.delay)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def keepalive():
    receiver = KeepAliveReceiver()
    yield receiver
    receiver.close()


def _record_many(world, n: int) -> list:
    with transaction.atomic():
        return [
            services.event_record(organization=world.org, livemode=False, type="payment.succeeded", data=dict(PAYMENT))
            for _ in range(n)
        ]


def test_a_transactions_events_go_out_in_one_batch_over_one_connection(
    world, keepalive, make_endpoint, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(services, "SEND_CONCURRENCY", 1)
    endpoint = make_endpoint(keepalive.url)
    with django_capture_on_commit_callbacks(execute=True):
        _record_many(world, 5)
    deliveries = Delivery.objects.filter(endpoint=endpoint)
    assert sorted(d.status for d in deliveries) == ["succeeded"] * 5
    assert all(d.attempt_count == 1 and d.last_status_code == 200 for d in deliveries)
    assert Attempt.objects.filter(delivery__endpoint=endpoint, succeeded=True).count() == 5
    assert len(keepalive.ports) == 5 and len(set(keepalive.ports)) == 1


def test_concurrent_senders_keep_to_one_connection_each(
    world, keepalive, make_endpoint, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(keepalive.url)
    with django_capture_on_commit_callbacks(execute=True):
        _record_many(world, 40)
    assert sorted(Delivery.objects.filter(endpoint=endpoint).values_list("status", flat=True)) == ["succeeded"] * 40
    assert len(keepalive.ports) == 40 and len(set(keepalive.ports)) <= services.SEND_CONCURRENCY


def test_an_event_in_a_rolled_back_savepoint_is_not_sent(
    world, keepalive, make_endpoint, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(keepalive.url)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        with transaction.atomic():
            kept = services.event_record(organization=world.org, livemode=False, type="payment.succeeded", data=PAYMENT)
        try:
            with transaction.atomic():
                services.event_record(organization=world.org, livemode=False, type="payment.succeeded", data=PAYMENT)
                raise RuntimeError
        except RuntimeError:
            pass
        last = services.event_record(organization=world.org, livemode=False, type="payment.succeeded", data=PAYMENT)
    sent = set(Delivery.objects.filter(endpoint=endpoint).values_list("event_id", "status"))
    assert sent == {(kept.pk, "succeeded"), (last.pk, "succeeded")}
    assert len(keepalive.ports) == 2


def test_a_batch_skips_deliveries_another_sender_holds(world, keepalive, make_endpoint):
    make_endpoint(keepalive.url)
    events = _record_many(world, 3)  # no on-commit callbacks run here: nothing is sent yet
    services.events_fan_out(event_ids=[e.pk for e in events])
    held, *free = Delivery.objects.order_by("pk")
    Delivery.objects.filter(pk=held.pk).update(sending_until=timezone.now() + timezone.timedelta(seconds=60))
    attempts = services.deliveries_attempt(delivery_ids=[held.pk, *(d.pk for d in free)])
    assert sorted(a.delivery_id for a in attempts) == sorted(d.pk for d in free)
    held.refresh_from_db()
    assert (held.status, held.attempt_count) == ("pending", 0)
    assert services.deliveries_attempt(delivery_ids=[d.pk for d in free]) == []  # done already


@pytest.mark.parametrize(("senders", "started"), [(1, 1), (2, 2)])
def test_a_long_batch_releases_what_it_has_not_started(world, make_endpoint, settings, monkeypatch, senders, started):
    settings.WEBHOOKS_LEASE_SECONDS = 1  # a batch starts no send after half the lease
    monkeypatch.setattr(services, "SEND_CONCURRENCY", senders)
    slow = KeepAliveReceiver(delay=0.6)
    try:
        make_endpoint(slow.url)
        events = _record_many(world, 6)
        services.events_fan_out(event_ids=[e.pk for e in events])
        ids = list(Delivery.objects.order_by("pk").values_list("pk", flat=True))
        attempts = services.deliveries_attempt(delivery_ids=ids)
    finally:
        slow.close()
    assert len(attempts) == started  # the first of each sender, before half the lease had gone
    rest = Delivery.objects.exclude(pk__in=[a.delivery_id for a in attempts])
    assert [(d.status, d.attempt_count, d.sending_until, d.dispatched_until) for d in rest] == [
        ("pending", 0, None, None)
    ] * (6 - started)


def test_the_pool_reuses_a_connection_only_for_the_same_checked_address(keepalive, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    with webhook_http.Pool() as pool:
        for _ in range(3):
            assert webhook_http.post(url=keepalive.url, headers={}, body=b"{}", pool=pool).ok
        other_name = f"http://localhost:{keepalive.port}/hook"  # same address, another Host/TLS name
        assert webhook_http.post(url=other_name, headers={}, body=b"{}", pool=pool).ok
    assert len(keepalive.ports) == 4
    assert len(set(keepalive.ports[:3])) == 1 and keepalive.ports[3] != keepalive.ports[0]
