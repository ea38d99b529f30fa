"""Cards and payments: every documented test card, every status transition, risk, capture, cancel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from payments_mock import services, testcards
from payments_mock.models import Payment, Transaction
from payments_mock.tasks import settle_due

PAYMENTS = "/api/v1/payments"


def _failing_cards():
    return [card for card in testcards.TEST_CARDS if card.failure_code]


def test_a_card_becomes_a_token_with_brand_last4_and_expiry(api):
    response = api(
        "post", "/api/v1/tokens", {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}
    )
    body = response.json()
    assert response.status_code == 201
    assert body["id"].startswith("tok_")
    assert (body["brand"], body["last4"], body["exp_month"], body["exp_year"]) == ("visa", "4242", 12, 2035)
    assert "number" not in body and "cvc" not in body


@pytest.mark.parametrize(
    "number, brand",
    [("5555555555554444", "mastercard"), ("378282246310005", "amex"), ("6011111111111117", "discover")],
)
def test_brands_come_from_the_number(card, api, number, brand):
    token = card(number)
    assert api("get", f"{PAYMENTS}?per_page=1").status_code == 200
    from payments_mock.models import CardToken

    assert CardToken.objects.get(public_id=token).brand == brand


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"number": "4242424242424241"}, "number"),  # fails Luhn
        ({"number": "4242-abcd"}, "number"),
        ({"number": "9999999999999995"}, "number"),  # Luhn-valid, no network we accept
        ({"exp_month": 13}, "exp_month"),
        ({"exp_year": 2001}, "exp_year"),
        ({"exp_year": 2099}, "exp_year"),
        ({"cvc": "12a"}, "cvc"),
        ({"cvc": "1234"}, "cvc"),  # a Visa has three digits
    ],
)
def test_bad_cards_are_refused_field_by_field(api, payload, field):
    body = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"} | payload
    response = api("post", "/api/v1/tokens", body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert "4242424242424241" not in response.content.decode()


def test_the_success_card_succeeds_and_posts_a_charge_and_a_fee(pay, events):
    body = pay(amount=10000)
    assert body["status"] == "succeeded"
    assert body["amount_captured"] == 10000 and body["amount_capturable"] == 0
    assert body["card"]["last4"] == "4242"
    rows = Transaction.objects.filter(source_id=body["id"]).order_by("kind")
    assert [(r.kind, r.amount) for r in rows] == [("charge", 10000), ("fee", -290)]
    assert events() == ["payment.succeeded"]


@pytest.mark.parametrize("test_card", _failing_cards(), ids=lambda c: c.behavior)
def test_each_declining_test_card_fails_with_its_code(pay, events, test_card):
    body = pay(test_card.number)
    assert body["status"] == "failed"
    assert body["failure_code"] == test_card.failure_code
    assert body["failure_message"] == test_card.failure_message
    assert events() == ["payment.failed"]
    assert not Transaction.objects.filter(source_id=body["id"]).exists()


def test_the_fraud_card_is_blocked_with_the_highest_risk(pay):
    body = pay(testcards.CARDS_BY_BEHAVIOR[testcards.FRAUD_BLOCK].number)
    assert body["risk"]["score"] == 95 and body["risk"]["level"] == "highest"
    assert "fraud" in body["risk"]["reason"]


def test_every_payment_has_a_deterministic_risk_score(pay):
    first, second = pay(amount=1050), pay(amount=1050)
    assert first["risk"] == second["risk"]  # the same card, amount and currency
    assert 0 <= first["risk"]["score"] < 65 and first["risk"]["reason"]
    big = pay(amount=50_000_000_00)
    assert big["risk"]["score"] > first["risk"]["score"]
    assert big["risk"]["level"] == "elevated"


@pytest.mark.parametrize("test_card", [c for c in testcards.TEST_CARDS if c.behavior in ("success", "refund_failure")])
def test_each_succeeding_test_card_succeeds(pay, test_card):
    assert pay(test_card.number)["status"] == "succeeded"


def test_3ds_requires_action_then_succeeds_when_authenticated(pay, api, events):
    body = pay(testcards.CARDS_BY_BEHAVIOR[testcards.THREE_D_SECURE].number)
    assert body["status"] == "requires_action"
    assert body["next_action"]["type"] == "three_d_secure"
    missing = api("post", f"{PAYMENTS}/{body['id']}/confirm", {})
    assert missing.status_code == 400 and "three_d_secure" in missing.json()["errors"]
    done = api("post", f"{PAYMENTS}/{body['id']}/confirm", {"three_d_secure": "authenticated"}).json()
    assert done["status"] == "succeeded" and done["next_action"] is None
    assert events() == ["payment.requires_action", "payment.succeeded"]
    again = api("post", f"{PAYMENTS}/{body['id']}/confirm", {"three_d_secure": "authenticated"})
    assert again.status_code == 409 and again.json()["type"].endswith("/problems/invalid-state")


def test_3ds_failure_fails_the_payment(pay, api):
    body = pay(testcards.CARDS_BY_BEHAVIOR[testcards.THREE_D_SECURE].number)
    done = api("post", f"{PAYMENTS}/{body['id']}/confirm", {"three_d_secure": "failed"}).json()
    assert done["status"] == "failed" and done["failure_code"] == "authentication_failed"


def test_the_processing_card_settles_through_the_task(pay, api, events):
    body = pay(testcards.CARDS_BY_BEHAVIOR[testcards.PROCESSING_DELAY].number)
    assert body["status"] == "processing"
    assert services.settle_due() == 0  # not due yet
    assert api("get", f"{PAYMENTS}/{body['id']}").json()["status"] == "processing"
    Payment.objects.filter(public_id=body["id"]).update(settle_at=timezone.now() - timedelta(seconds=1))
    assert settle_due.delay().get() == 1
    assert api("get", f"{PAYMENTS}/{body['id']}").json()["status"] == "succeeded"
    assert services.settle_due() == 0  # a second run finds nothing
    assert events() == ["payment.succeeded"]


def test_confirm_false_waits_then_confirms(pay, api):
    body = pay(confirm=False)
    assert body["status"] == "requires_confirmation"
    assert api("post", f"{PAYMENTS}/{body['id']}/confirm", {}).json()["status"] == "succeeded"


def test_manual_capture_captures_part_and_releases_the_rest(pay, api, events):
    body = pay(amount=5000, capture_method="manual")
    assert body["status"] == "requires_capture" and body["amount_capturable"] == 5000
    too_much = api("post", f"{PAYMENTS}/{body['id']}/capture", {"amount": 5001})
    assert too_much.status_code == 400 and "amount" in too_much.json()["errors"]
    captured = api("post", f"{PAYMENTS}/{body['id']}/capture", {"amount": 3000}).json()
    assert captured["status"] == "succeeded"
    assert (captured["amount_captured"], captured["amount_capturable"]) == (3000, 0)
    assert api("post", f"{PAYMENTS}/{body['id']}/capture", {}).status_code == 409
    assert events() == ["payment.succeeded"]


def test_a_full_capture_is_the_default(pay, api):
    body = pay(amount=5000, capture_method="manual")
    assert api("post", f"{PAYMENTS}/{body['id']}/capture", {}).json()["amount_captured"] == 5000


@pytest.mark.parametrize("setup", ["requires_confirmation", "requires_action", "requires_capture"])
def test_a_payment_can_be_canceled_before_capture(pay, api, events, setup):
    if setup == "requires_confirmation":
        body = pay(confirm=False)
    elif setup == "requires_action":
        body = pay(testcards.CARDS_BY_BEHAVIOR[testcards.THREE_D_SECURE].number)
    else:
        body = pay(capture_method="manual")
    assert body["status"] == setup
    canceled = api("post", f"{PAYMENTS}/{body['id']}/cancel", {"reason": "abandoned"}).json()
    assert canceled["status"] == "canceled" and canceled["cancellation_reason"] == "abandoned"
    assert events()[-1] == "payment.canceled"


def test_succeeded_failed_and_processing_payments_cannot_be_canceled(pay, api):
    for number in ("4242424242424242", "4000000000000002", "4000000000000077"):
        body = pay(number)
        response = api("post", f"{PAYMENTS}/{body['id']}/cancel", {})
        assert response.status_code == 409, body["status"]


def test_amounts_in_zero_and_three_decimal_currencies(pay):
    assert pay(amount=1050, currency="jpy")["amount"] == 1050
    body = pay(amount=1234, currency="KWD")
    assert (body["amount"], body["currency"]) == (1234, "kwd")


@pytest.mark.parametrize(
    "change, field",
    [
        ({"amount": 10.5}, "amount"),
        ({"amount": "10.50"}, "amount"),
        ({"amount": -100}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": 10**16}, "amount"),
        ({"amount": 10**40}, "amount"),
        ({"amount": "lots"}, "amount"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "dollars"}, "currency"),
        ({"currency": ""}, "currency"),
        ({"card": "tok_doesnotexist"}, "card"),
        ({"customer": "cus_doesnotexist"}, "customer"),
        ({"metadata": {"ключ": "x" * 600}}, "metadata"),
    ],
)
def test_malformed_payment_input_is_a_clear_400(api, card, change, field):
    body = {"amount": 1000, "currency": "usd", "card": card()} | change
    response = api("post", PAYMENTS, body)
    assert response.status_code == 400, response.json()
    problem = response.json()
    assert field in problem["errors"] and problem["type"].endswith("/problems/validation-error")


def test_a_payment_needs_exactly_one_payment_method(api, card):
    assert api("post", PAYMENTS, {"amount": 1000, "currency": "usd"}).status_code == 400


def test_the_list_filters_and_sorts(pay, api):
    pay(amount=300)
    pay("4000000000000002", amount=100)
    pay(amount=200, currency="eur")
    assert api("get", f"{PAYMENTS}?status=failed").json()["meta"]["total"] == 1
    assert api("get", f"{PAYMENTS}?currency=eur").json()["meta"]["total"] == 1
    amounts = [row["amount"] for row in api("get", f"{PAYMENTS}?sort=amount:asc").json()["data"]]
    assert amounts == [100, 200, 300]


def test_the_test_card_table_is_served_from_the_code(api):
    body = api("get", "/api/v1/test-cards").json()
    assert [c["number"] for c in body["cards"]] == [c.number for c in testcards.TEST_CARDS]
    assert {c["behavior"] for c in body["cards"]} >= {
        "success",
        "generic_decline",
        "insufficient_funds",
        "expired_card",
        "incorrect_cvc",
        "fraud_block",
        "three_d_secure",
        "processing_delay",
    }
