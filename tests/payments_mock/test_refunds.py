"""Refunds: full, partial, several partials, reasons, statuses, and the race for the last cent."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from payments_mock import services, testcards
from payments_mock.models import Payment, Refund, Transaction

REFUNDS = "/api/v1/refunds"


def test_a_full_refund_is_the_default(pay, api, events):
    payment = pay(amount=2500)
    response = api("post", REFUNDS, {"payment": payment["id"]})
    assert response.status_code == 201
    refund = response.json()
    assert refund["id"].startswith("re_")
    assert (refund["amount"], refund["currency"], refund["status"]) == (2500, "usd", "succeeded")
    assert refund["reason"] == "requested_by_customer"
    assert api("get", f"/api/v1/payments/{payment['id']}").json()["amount_refunded"] == 2500
    assert events() == ["payment.succeeded", "refund.succeeded"]
    assert Transaction.objects.get(source_id=refund["id"]).amount == -2500


def test_partial_refunds_add_up_to_the_captured_amount_and_no_further(pay, api):
    payment = pay(amount=1000)
    for amount in (300, 300, 400):
        assert (
            api("post", REFUNDS, {"payment": payment["id"], "amount": amount, "reason": "duplicate"}).status_code == 201
        )
    done = api("post", REFUNDS, {"payment": payment["id"], "amount": 1})
    assert done.status_code == 409 and "refunded in full" in done.json()["detail"]
    listed = api("get", f"{REFUNDS}?payment={payment['id']}&sort=amount:desc").json()
    assert [row["amount"] for row in listed["data"]] == [400, 300, 300]
    assert {row["reason"] for row in listed["data"]} == {"duplicate"}


def test_a_refund_larger_than_what_is_left_is_a_field_error(pay, api):
    payment = pay(amount=1000)
    api("post", REFUNDS, {"payment": payment["id"], "amount": 600})
    response = api("post", REFUNDS, {"payment": payment["id"], "amount": 401})
    assert response.status_code == 400
    assert response.json()["errors"]["amount"] == ["At most 400 USD is left to refund."]


def test_only_the_captured_part_of_a_partly_captured_payment_can_be_refunded(pay, api):
    payment = pay(amount=5000, capture_method="manual")
    api("post", f"/api/v1/payments/{payment['id']}/capture", {"amount": 2000})
    assert api("post", REFUNDS, {"payment": payment["id"], "amount": 2001}).status_code == 400
    assert api("post", REFUNDS, {"payment": payment["id"]}).json()["amount"] == 2000


@pytest.mark.parametrize("number", ["4000000000000002", "4000000000003220", "4000000000000077"])
def test_payments_that_did_not_succeed_cannot_be_refunded(pay, api, number):
    payment = pay(number)
    response = api("post", REFUNDS, {"payment": payment["id"]})
    assert response.status_code == 409 and payment["status"] in response.json()["detail"]


def test_the_refund_failure_card_leaves_refunds_pending_then_failed(pay, api, events):
    payment = pay(testcards.CARDS_BY_BEHAVIOR[testcards.REFUND_FAILURE].number, amount=1000)
    refund = api("post", REFUNDS, {"payment": payment["id"], "amount": 600}).json()
    assert refund["status"] == "pending"
    # A pending refund holds its amount: only 400 is left meanwhile.
    assert api("post", REFUNDS, {"payment": payment["id"], "amount": 401}).status_code == 400
    Refund.objects.filter(public_id=refund["id"]).update(settle_at=timezone.now() - timedelta(seconds=1))
    assert services.settle_due() == 1
    failed = api("get", f"{REFUNDS}/{refund['id']}").json()
    assert failed["status"] == "failed" and "refused" in failed["failure_reason"]
    assert api("get", f"/api/v1/payments/{payment['id']}").json()["amount_refunded"] == 0
    assert Transaction.objects.get(source_id=refund["id"]).status == "failed"
    assert events() == ["payment.succeeded", "refund.failed"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"amount": -5}, "amount"),
        ({"amount": 1.5}, "amount"),
        ({"amount": 10**18}, "amount"),
        ({"reason": "because"}, "reason"),
        ({"payment": "pay_nope"}, "payment"),
    ],
)
def test_bad_refund_input_is_a_field_error(pay, api, body, field):
    payment = pay()
    response = api("post", REFUNDS, {"payment": payment["id"]} | body)
    assert response.status_code == 400 and field in response.json()["errors"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_never_exceed_the_captured_amount(world, test_key, card, api):
    payment = api("post", "/api/v1/payments", {"amount": 1000, "currency": "usd", "card": card()}).json()
    threads_count = 8
    barrier = threading.Barrier(threads_count)
    statuses: list[int] = []
    lock = threading.Lock()

    def refund_300():
        client = Client()
        try:
            barrier.wait(timeout=10)
            response = client.post(
                REFUNDS,
                {"payment": payment["id"], "amount": 300},
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {test_key}",
            )
            with lock:
                statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=refund_300) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(statuses) == [201, 201, 201, 400, 400, 400, 400, 400]
    row = Payment.objects.get(public_id=payment["id"])
    assert row.amount_refunded == 900
    assert sum(Refund.objects.filter(payment=row).values_list("amount", flat=True)) == 900
