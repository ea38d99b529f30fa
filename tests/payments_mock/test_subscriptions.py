"""Subscriptions: periods, proration to the second, trials, dunning, cancel, the test clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from payments_mock import billing
from payments_mock.models import Invoice, Subscription
from payments_mock.models import TestClock as Clock  # a Test* name would look like a test class

D = datetime


# ---- the arithmetic ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "anchor, n, expected",
    [
        (D(2026, 1, 31, 10, tzinfo=UTC), 1, D(2026, 2, 28, 10, tzinfo=UTC)),
        (D(2028, 1, 31, 10, tzinfo=UTC), 1, D(2028, 2, 29, 10, tzinfo=UTC)),  # leap year
        (D(2026, 1, 31, 10, tzinfo=UTC), 2, D(2026, 3, 31, 10, tzinfo=UTC)),  # the anchor's day comes back
        (D(2026, 1, 30, tzinfo=UTC), 1, D(2026, 2, 28, tzinfo=UTC)),
        (D(2026, 12, 31, tzinfo=UTC), 2, D(2027, 2, 28, tzinfo=UTC)),
    ],
)
def test_monthly_periods_clamp_to_the_month_and_keep_the_anchor_day(anchor, n, expected):
    assert billing.period_boundary(anchor, "month", 1, n) == expected


def test_yearly_weekly_daily_and_custom_intervals():
    leap_day = D(2028, 2, 29, tzinfo=UTC)
    assert billing.period_boundary(leap_day, "year", 1, 1) == D(2029, 2, 28, tzinfo=UTC)
    assert billing.period_boundary(leap_day, "year", 1, 4) == D(2032, 2, 29, tzinfo=UTC)
    start = D(2026, 3, 1, tzinfo=UTC)
    assert billing.period_boundary(start, "week", 2, 1) == D(2026, 3, 15, tzinfo=UTC)
    assert billing.period_boundary(start, "day", 10, 3) == D(2026, 3, 31, tzinfo=UTC)
    assert billing.period_boundary(start, "month", 3, 1) == D(2026, 6, 1, tzinfo=UTC)


def test_proration_is_exact_to_the_second_and_rounds_half_even():
    start, end = D(2026, 2, 1, tzinfo=UTC), D(2026, 3, 1, tzinfo=UTC)  # 28 days = 2,419,200 s
    assert billing.prorate(2800, start=start, end=end, at=D(2026, 2, 15, tzinfo=UTC)) == 1400
    assert billing.prorate(2800, start=start, end=end, at=start) == 2800
    assert billing.prorate(2800, start=start, end=end, at=end) == 0
    one_second_in = start + timedelta(seconds=1)
    assert billing.prorate(2_419_200, start=start, end=end, at=one_second_in) == 2_419_199
    # 1 unit over two seconds, half way: 0.5 rounds to even (0); 3 units: 1.5 -> 2.
    assert billing.prorate(1, start=start, end=start + timedelta(seconds=2), at=start + timedelta(seconds=1)) == 0
    assert billing.prorate(3, start=start, end=start + timedelta(seconds=2), at=start + timedelta(seconds=1)) == 2


def test_proration_in_a_leap_february():
    start, end = D(2028, 2, 1, tzinfo=UTC), D(2028, 3, 1, tzinfo=UTC)  # 29 days
    assert billing.prorate(2900, start=start, end=end, at=D(2028, 2, 29, tzinfo=UTC)) == 100


# ---- through the API -----------------------------------------------------------------------


@pytest.fixture
def clock(world):
    return Clock.objects.create(organization=world.org, frozen_time=D(2028, 1, 31, 10, tzinfo=UTC))


@pytest.fixture
def plans(api):
    product = api("post", "/api/v1/products", {"name": "Pro"}).json()["id"]

    def price(amount, interval="month", count=1, currency="usd"):
        body = {"product": product, "currency": currency, "unit_amount": amount, "interval": interval}
        response = api("post", "/api/v1/prices", body | {"interval_count": count})
        assert response.status_code == 201, response.json()
        return response.json()["id"]

    return {"basic": price(1000), "pro": price(3000), "price": price}


@pytest.fixture
def subscribe(api, card, plans):
    customer = api("post", "/api/v1/customers", {"name": "Sub Scriber"}).json()["id"]

    def _subscribe(price=None, number="4242424242424242", **extra):
        body = {"customer": customer, "price": price or plans["basic"], "card": card(number)} | extra
        response = api("post", "/api/v1/subscriptions", body)
        assert response.status_code == 201, response.json()
        return response.json()

    return _subscribe


def _invoices(api, sub_id):
    return api("get", f"/api/v1/invoices?subscription={sub_id}&sort=created_at:asc&per_page=100").json()["data"]


def _advance(api, to):
    response = api("post", "/api/v1/test_clock", {"to": to.isoformat()})
    assert response.status_code == 200, response.json()
    return response.json()


def test_subscribing_invoices_and_charges_the_first_period(api, clock, subscribe, events):
    sub = subscribe()
    assert sub["id"].startswith("sub_") and sub["status"] == "active"
    assert sub["current_period_start"].startswith("2028-01-31T10:00")
    assert sub["current_period_end"].startswith("2028-02-29T10:00")
    [invoice] = _invoices(api, sub["id"])
    assert invoice["id"].startswith("in_") and invoice["status"] == "paid"
    assert invoice["amount_due"] == invoice["amount_paid"] == 1000 and invoice["payment"].startswith("pay_")
    assert events() == ["customer.created", "subscription.created", "payment.succeeded", "invoice.paid"]


def test_the_clock_renews_month_ends_and_leap_days(api, clock, subscribe):
    sub = subscribe()
    result = _advance(api, D(2028, 4, 1, tzinfo=UTC))
    assert result["processed"] == 2  # 29 Feb and 31 Mar
    invoices = _invoices(api, sub["id"])
    assert [i["period_start"][:10] for i in invoices] == ["2028-01-31", "2028-02-29", "2028-03-31"]
    assert all(i["status"] == "paid" for i in invoices)
    assert api("get", f"/api/v1/subscriptions/{sub['id']}").json()["current_period_end"].startswith("2028-04-30")


def test_upgrade_mid_period_is_prorated_to_the_second_and_charged_now(api, clock, subscribe, plans):
    sub = subscribe()  # period 31 Jan 10:00 -> 29 Feb 10:00 = 29 days
    _advance(api, D(2028, 2, 14, 22, tzinfo=UTC))  # 14.5 days left
    updated = api("patch", f"/api/v1/subscriptions/{sub['id']}", {"price": plans["pro"]}).json()
    assert updated["price"] == plans["pro"]
    proration = _invoices(api, sub["id"])[-1]
    assert proration["billing_reason"] == "subscription_update" and proration["status"] == "paid"
    assert [line["amount"] for line in proration["lines"]] == [-500, 1500]
    assert proration["amount_due"] == 1000


def test_upgrade_then_downgrade_in_one_period_leaves_a_credit_for_the_next_invoice(api, clock, subscribe, plans):
    sub = subscribe()
    _advance(api, D(2028, 2, 14, 22, tzinfo=UTC))  # half of the period left: +1000 charged
    api("patch", f"/api/v1/subscriptions/{sub['id']}", {"price": plans["pro"]})
    # A quarter of the 29-day period left (7.25 days before 29 Feb 10:00).
    _advance(api, D(2028, 2, 22, 4, tzinfo=UTC))
    down = api("patch", f"/api/v1/subscriptions/{sub['id']}", {"price": plans["basic"]}).json()
    assert down["credit_balance"] == 750 - 250  # unused pro time less the basic time
    _advance(api, D(2028, 2, 29, 10, tzinfo=UTC))
    renewal = _invoices(api, sub["id"])[-1]
    assert renewal["billing_reason"] == "subscription_cycle"
    assert (renewal["subtotal"], renewal["credit_applied"], renewal["amount_due"]) == (1000, 500, 500)
    assert api("get", f"/api/v1/subscriptions/{sub['id']}").json()["credit_balance"] == 0


def test_a_trial_bills_nothing_until_it_ends(api, clock, subscribe, events):
    sub = subscribe(trial_period_days=14)
    assert sub["status"] == "trialing" and sub["trial_end"].startswith("2028-02-14")
    assert _invoices(api, sub["id"]) == []
    _advance(api, D(2028, 2, 14, 10, tzinfo=UTC))
    after = api("get", f"/api/v1/subscriptions/{sub['id']}").json()
    assert after["status"] == "active" and after["current_period_end"].startswith("2028-03-14")
    assert [i["amount_due"] for i in _invoices(api, sub["id"])] == [1000]


def test_a_declined_renewal_goes_past_due_retries_then_cancels(api, clock, subscribe, events):
    sub = subscribe()
    # The customer's card is replaced by one that declines before the renewal.
    declining = api(
        "post", "/api/v1/tokens", {"number": "4000000000000002", "exp_month": 1, "exp_year": 2040, "cvc": "123"}
    ).json()["id"]
    api("patch", f"/api/v1/subscriptions/{sub['id']}", {"card": declining})
    _advance(api, D(2028, 2, 29, 10, tzinfo=UTC))
    renewal = _invoices(api, sub["id"])[-1]
    assert renewal["status"] == "open" and renewal["attempt_count"] == 1
    assert renewal["next_payment_attempt"].startswith("2028-03-01")
    assert api("get", f"/api/v1/subscriptions/{sub['id']}").json()["status"] == "past_due"
    _advance(api, D(2028, 3, 12, tzinfo=UTC))  # retries after 1, 3 and 5 more days
    renewal = api("get", f"/api/v1/invoices/{renewal['id']}").json()
    assert renewal["status"] == "uncollectible" and renewal["attempt_count"] == 4
    assert api("get", f"/api/v1/subscriptions/{sub['id']}").json()["status"] == "canceled"
    assert events().count("invoice.payment_failed") == 4
    assert events()[-1] == "subscription.canceled"


def test_paying_an_open_invoice_brings_the_subscription_back(api, clock, subscribe, card):
    sub = subscribe(number="4000000000009995")
    assert sub["status"] == "past_due"
    [invoice] = _invoices(api, sub["id"])
    assert invoice["status"] == "open"
    api("patch", f"/api/v1/subscriptions/{sub['id']}", {"card": card()})
    paid = api("post", f"/api/v1/invoices/{invoice['id']}/pay").json()
    assert paid["status"] == "paid" and paid["attempt_count"] == 2
    assert api("get", f"/api/v1/subscriptions/{sub['id']}").json()["status"] == "active"
    assert api("post", f"/api/v1/invoices/{invoice['id']}/pay").status_code == 409


def test_cancel_at_period_end_then_now(api, clock, subscribe, events):
    sub = subscribe()
    later = api("post", f"/api/v1/subscriptions/{sub['id']}/cancel", {"at_period_end": True}).json()
    assert later["status"] == "active" and later["cancel_at_period_end"] is True
    _advance(api, D(2028, 3, 1, tzinfo=UTC))
    ended = api("get", f"/api/v1/subscriptions/{sub['id']}").json()
    assert ended["status"] == "canceled" and ended["canceled_at"].startswith("2028-02-29T10:00")
    assert len(_invoices(api, sub["id"])) == 1  # no renewal invoice
    other = subscribe()
    now = api("post", f"/api/v1/subscriptions/{other['id']}/cancel", {}).json()
    assert now["status"] == "canceled"
    assert api("post", f"/api/v1/subscriptions/{other['id']}/cancel", {}).status_code == 409


def test_resuming_before_the_period_ends(api, clock, subscribe):
    sub = subscribe()
    api("patch", f"/api/v1/subscriptions/{sub['id']}", {"cancel_at_period_end": True})
    resumed = api("patch", f"/api/v1/subscriptions/{sub['id']}", {"cancel_at_period_end": False}).json()
    assert resumed["cancel_at_period_end"] is False
    _advance(api, D(2028, 3, 1, tzinfo=UTC))
    assert api("get", f"/api/v1/subscriptions/{sub['id']}").json()["status"] == "active"


def test_yen_and_custom_intervals(api, clock, subscribe, plans):
    fortnightly = plans["price"](1500, "week", 2, "jpy")
    sub = subscribe(price=fortnightly)
    assert sub["current_period_end"].startswith("2028-02-14")
    _advance(api, D(2028, 3, 1, tzinfo=UTC))
    assert [i["amount_due"] for i in _invoices(api, sub["id"])] == [1500, 1500, 1500]
    assert {i["currency"] for i in _invoices(api, sub["id"])} == {"jpy"}


def test_the_beat_task_renews_on_real_time_and_leaves_clocked_orgs_alone(api, subscribe, world):
    sub = subscribe()  # no clock: real time
    Subscription.objects.filter(public_id=sub["id"]).update(current_period_end=D(2020, 1, 1, tzinfo=UTC))
    Clock.objects.create(organization=world.org, frozen_time=D(2020, 1, 1, tzinfo=UTC))
    assert billing.billing_run() == 0  # the org's test mode now follows its clock
    Clock.objects.all().delete()
    from payments_mock.tasks import run_billing

    assert run_billing.delay().get() >= 1
    assert Invoice.objects.filter(subscription__public_id=sub["id"]).count() >= 2


@pytest.mark.parametrize(
    "change, field",
    [
        ({"price": "price_nope"}, "price"),
        ({"customer": "cus_nope"}, "customer"),
        ({"card": "tok_nope"}, "card"),
        ({"trial_period_days": -1}, "trial_period_days"),
    ],
)
def test_bad_subscription_input(api, subscribe, card, plans, change, field):
    customer = api("post", "/api/v1/customers", {"name": "x"}).json()["id"]
    body = {"customer": customer, "price": plans["basic"], "card": card()} | change
    response = api("post", "/api/v1/subscriptions", body)
    assert response.status_code == 400 and field in response.json()["errors"]


def test_price_changes_must_keep_currency_and_interval(api, clock, subscribe, plans):
    sub = subscribe()
    euro = plans["price"](1000, currency="eur")
    yearly = plans["price"](10000, "year")
    for price in (euro, yearly, plans["basic"]):
        response = api("patch", f"/api/v1/subscriptions/{sub['id']}", {"price": price})
        assert response.status_code == 400 and "price" in response.json()["errors"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"unit_amount": -1}, "unit_amount"),
        ({"unit_amount": 9.99}, "unit_amount"),
        ({"interval": "fortnight"}, "interval"),
        ({"interval_count": 13}, "interval_count"),
        ({"currency": "ZZZ"}, "currency"),
    ],
)
def test_bad_prices(api, plans, body, field):
    product = api("post", "/api/v1/products", {"name": "P"}).json()["id"]
    base = {"product": product, "currency": "usd", "unit_amount": 100, "interval": "month"}
    response = api("post", "/api/v1/prices", base | body)
    assert response.status_code == 400 and field in response.json()["errors"]


def test_the_clock_only_moves_forward_and_only_in_test_mode(api, call, clock, live_key):
    assert api("get", "/api/v1/test_clock").json()["frozen_time"].startswith("2028-01-31")
    back = api("post", "/api/v1/test_clock", {"to": "2027-01-01T00:00:00Z"})
    assert back.status_code == 400 and "to" in back.json()["errors"]
    assert api("post", "/api/v1/test_clock", {"seconds": 60}).json()["frozen_time"].startswith("2028-01-31T10:01")
    assert call("get", "/api/v1/test_clock", key=live_key).status_code == 403


def test_a_3ds_card_fails_off_session_and_a_processing_card_is_refused(api, clock, subscribe, card, plans):
    sub = subscribe(number="4000000000003220")
    assert sub["status"] == "past_due"
    [invoice] = _invoices(api, sub["id"])
    assert invoice["status"] == "open"
    assert api("get", f"/api/v1/payments/{invoice['payment']}").json()["status"] == "canceled"
    customer = api("post", "/api/v1/customers", {"name": "x"}).json()["id"]
    body = {"customer": customer, "price": plans["basic"], "card": card("4000000000000077")}
    response = api("post", "/api/v1/subscriptions", body)
    assert response.status_code == 400 and "card" in response.json()["errors"]


def test_deleting_a_subscribed_customer_cancels_then_removes_their_subscriptions(api, clock, subscribe, events):
    sub = subscribe()
    [invoice] = _invoices(api, sub["id"])
    assert api("delete", f"/api/v1/customers/{sub['customer']}").status_code == 200
    assert api("get", f"/api/v1/subscriptions/{sub['id']}").status_code == 404
    assert api("get", f"/api/v1/invoices/{invoice['id']}").status_code == 404
    payment = api("get", f"/api/v1/payments/{invoice['payment']}").json()
    assert payment["status"] == "succeeded" and payment["customer"] is None  # the money history stays
    assert events()[-2:] == ["subscription.canceled", "customer.deleted"]
