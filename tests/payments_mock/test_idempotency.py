"""Idempotency-Key on the sandbox POSTs: replay, a different body, concurrent duplicates."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from payments_mock.models import Customer, Payment, Refund


def test_a_replayed_payment_returns_the_first_answer_and_charges_once(api, card):
    token = card()
    body = {"amount": 1500, "currency": "usd", "card": token}
    first = api("post", "/api/v1/payments", body, HTTP_IDEMPOTENCY_KEY="order-6735")
    second = api("post", "/api/v1/payments", body, HTTP_IDEMPOTENCY_KEY="order-6735")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Payment.objects.count() == 1


def test_the_same_key_with_a_different_body_is_a_422(api, card):
    token = card()
    api("post", "/api/v1/payments", {"amount": 1500, "currency": "usd", "card": token}, HTTP_IDEMPOTENCY_KEY="k1")
    response = api(
        "post", "/api/v1/payments", {"amount": 1600, "currency": "usd", "card": token}, HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert response.status_code == 422
    assert response.json()["type"].endswith("/problems/idempotency-key-reused")
    assert Payment.objects.count() == 1


def test_a_failed_request_is_not_remembered_so_it_can_be_retried(api, pay):
    payment = pay(amount=100)
    bad = api("post", "/api/v1/refunds", {"payment": payment["id"], "amount": 101}, HTTP_IDEMPOTENCY_KEY="r1")
    assert bad.status_code == 400
    retry = api("post", "/api/v1/refunds", {"payment": payment["id"], "amount": 101}, HTTP_IDEMPOTENCY_KEY="r1")
    assert retry.status_code == 400  # evaluated again, not replayed


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/customers", {"name": "Jenny"}),
        ("/api/v1/fx/quotes", {"source": "EUR", "target": "GBP", "amount": 1000}),
        (
            "/api/v1/bank_accounts",
            {"account_holder_name": "J", "routing_number": "110000000", "account_number": "1234"},
        ),
    ],
)
def test_creates_across_the_sandbox_are_idempotent(api, path, body):
    first = api("post", path, body, HTTP_IDEMPOTENCY_KEY="same")
    second = api("post", path, body, HTTP_IDEMPOTENCY_KEY="same")
    assert first.status_code == 201 and second.json()["id"] == first.json()["id"]


def test_action_endpoints_replay_too(pay, api):
    payment = pay(amount=1000, capture_method="manual")
    path = f"/api/v1/payments/{payment['id']}/capture"
    first = api("post", path, {"amount": 400}, HTTP_IDEMPOTENCY_KEY="cap")
    second = api("post", path, {"amount": 400}, HTTP_IDEMPOTENCY_KEY="cap")
    assert first.status_code == second.status_code == 200
    assert second.json()["amount_captured"] == 400
    refund = {"payment": payment["id"], "amount": 100}
    api("post", "/api/v1/refunds", refund, HTTP_IDEMPOTENCY_KEY="ref")
    api("post", "/api/v1/refunds", refund, HTTP_IDEMPOTENCY_KEY="ref")
    assert Refund.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_create_one_object(world, test_key):
    count = 6
    barrier = threading.Barrier(count)
    statuses: list[int] = []
    ids: set[str] = set()
    lock = threading.Lock()

    def create():
        client = Client()
        try:
            barrier.wait(timeout=10)
            response = client.post(
                "/api/v1/customers",
                {"name": "Only once"},
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {test_key}",
                HTTP_IDEMPOTENCY_KEY="signup-42",
            )
            with lock:
                statuses.append(response.status_code)
                if response.status_code == 201:
                    ids.add(response.json()["id"])
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(statuses) == count
    assert set(statuses) <= {201, 409}  # a duplicate still in flight is told so, never run twice
    assert 201 in statuses
    assert Customer.objects.filter(name="Only once").count() == 1
    assert len(ids) == 1
