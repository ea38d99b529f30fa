"""Every sandbox endpoint: no credential is a 401, a missing scope a 403, another
organisation's object a 404, and the other mode's object a 404 (a live key never sees
test objects and the lists stay apart)."""

from __future__ import annotations

import pytest

from tests.payments_mock.conftest import SANDBOX_SCOPES

# (method, path, body, scope); {customer} and friends are filled from the `objects` fixture.
ENDPOINTS = [
    ("get", "/api/v1/customers", None, "customers:read"),
    ("post", "/api/v1/customers", {"name": "x"}, "customers:write"),
    ("get", "/api/v1/customers/{customer}", None, "customers:read"),
    ("patch", "/api/v1/customers/{customer}", {"name": "y"}, "customers:write"),
    ("delete", "/api/v1/customers/{customer}", None, "customers:write"),
    (
        "post",
        "/api/v1/tokens",
        {"number": "4242424242424242", "exp_month": 1, "exp_year": 2040, "cvc": "123"},
        "payments:write",
    ),
    ("get", "/api/v1/test-cards", None, "payments:read"),
    ("get", "/api/v1/payments", None, "payments:read"),
    ("post", "/api/v1/payments", {"amount": 100, "currency": "usd", "card": "{token}"}, "payments:write"),
    ("get", "/api/v1/payments/{payment}", None, "payments:read"),
    ("post", "/api/v1/payments/{payment}/confirm", {}, "payments:write"),
    ("post", "/api/v1/payments/{payment}/capture", {}, "payments:write"),
    ("post", "/api/v1/payments/{payment}/cancel", {}, "payments:write"),
    ("get", "/api/v1/refunds", None, "refunds:read"),
    ("post", "/api/v1/refunds", {"payment": "{paid}", "amount": 1}, "refunds:write"),
    ("get", "/api/v1/refunds/{refund}", None, "refunds:read"),
    ("get", "/api/v1/fx/rates", None, "fx:read"),
    ("get", "/api/v1/fx/convert?source=USD&target=EUR&amount=100", None, "fx:read"),
    ("post", "/api/v1/fx/quotes", {"source": "USD", "target": "EUR", "amount": 100}, "fx:write"),
    ("get", "/api/v1/fx/quotes/{quote}", None, "fx:read"),
    ("post", "/api/v1/fx/conversions", {"quote": "{quote}"}, "fx:write"),
    (
        "post",
        "/api/v1/credit/scores",
        {"annual_income": 1, "credit_history_months": 1, "open_accounts": 1, "credit_utilization": 1},
        "credit:read",
    ),
    ("get", "/api/v1/bank_accounts", None, "bank_accounts:read"),
    (
        "post",
        "/api/v1/bank_accounts",
        {"account_holder_name": "x", "routing_number": "110000000", "account_number": "1234"},
        "bank_accounts:write",
    ),
    ("get", "/api/v1/bank_accounts/{bank_account}", None, "bank_accounts:read"),
    ("post", "/api/v1/bank_accounts/{bank_account}/verify", {"amounts": [32, 45]}, "bank_accounts:write"),
    ("get", "/api/v1/products", None, "subscriptions:read"),
    ("post", "/api/v1/products", {"name": "P"}, "subscriptions:write"),
    ("get", "/api/v1/products/{product}", None, "subscriptions:read"),
    ("get", "/api/v1/prices", None, "subscriptions:read"),
    (
        "post",
        "/api/v1/prices",
        {"product": "{product}", "currency": "usd", "unit_amount": 100, "interval": "month"},
        "subscriptions:write",
    ),
    ("get", "/api/v1/prices/{price}", None, "subscriptions:read"),
    ("get", "/api/v1/subscriptions", None, "subscriptions:read"),
    (
        "post",
        "/api/v1/subscriptions",
        {"customer": "{customer}", "price": "{price}", "card": "{token}"},
        "subscriptions:write",
    ),
    ("get", "/api/v1/subscriptions/{subscription}", None, "subscriptions:read"),
    ("patch", "/api/v1/subscriptions/{subscription}", {"cancel_at_period_end": True}, "subscriptions:write"),
    ("post", "/api/v1/subscriptions/{subscription}/cancel", {}, "subscriptions:write"),
    ("get", "/api/v1/invoices", None, "subscriptions:read"),
    ("get", "/api/v1/invoices/{invoice}", None, "subscriptions:read"),
    ("post", "/api/v1/invoices/{invoice}/pay", None, "subscriptions:write"),
    ("get", "/api/v1/test_clock", None, "subscriptions:read"),
    ("post", "/api/v1/test_clock", {"seconds": 60}, "subscriptions:write"),
    ("get", "/api/v1/transactions", None, "transactions:read"),
    ("get", "/api/v1/reports/revenue", None, "reports:read"),
    ("get", "/api/v1/transactions/export", None, "transactions:read"),
    ("post", "/api/v1/sandbox/reset", None, "sandbox:reset"),
    ("post", "/api/v1/sandbox/sample_data", {"customers": 1, "months": 1}, "sandbox:reset"),
]
# Endpoints that name one object: the 404 tests target these.
OBJECT_ENDPOINTS = [e for e in ENDPOINTS if "{" in e[1] or any("{" in str(v) for v in (e[2] or {}).values())]


def _ids(endpoint) -> str:
    return f"{endpoint[0]} {endpoint[1]}"


@pytest.fixture
def objects(api, card):
    """One object of each kind, made with the test key of the test organisation."""
    token = card()
    payment = api(
        "post", "/api/v1/payments", {"amount": 1000, "currency": "usd", "card": token, "capture_method": "manual"}
    ).json()
    paid = api("post", "/api/v1/payments", {"amount": 1000, "currency": "usd", "card": card()}).json()
    refund = api("post", "/api/v1/refunds", {"payment": paid["id"], "amount": 10}).json()
    quote = api("post", "/api/v1/fx/quotes", {"source": "USD", "target": "EUR", "amount": 100}).json()
    account = api(
        "post",
        "/api/v1/bank_accounts",
        {"account_holder_name": "x", "routing_number": "021000021", "account_number": "1234"},
    ).json()
    customer = api("post", "/api/v1/customers", {"name": "c"}).json()
    product = api("post", "/api/v1/products", {"name": "p"}).json()
    price = api(
        "post",
        "/api/v1/prices",
        {"product": product["id"], "currency": "usd", "unit_amount": 100, "interval": "month"},
    ).json()
    subscriber = api("post", "/api/v1/customers", {"name": "s"}).json()
    declining = card("4000000000000002")
    subscription = api(
        "post", "/api/v1/subscriptions", {"customer": subscriber["id"], "price": price["id"], "card": declining}
    ).json()
    invoice = api("get", f"/api/v1/invoices?subscription={subscription['id']}").json()["data"][0]
    return {
        "product": product["id"],
        "price": price["id"],
        "subscription": subscription["id"],
        "invoice": invoice["id"],
        "customer": customer["id"],
        "token": token,
        "payment": payment["id"],
        "paid": paid["id"],
        "refund": refund["id"],
        "quote": quote["id"],
        "bank_account": account["id"],
    }


def _fill(value, objects):
    if isinstance(value, str):
        return value.format(**objects)
    if isinstance(value, dict):
        return {k: _fill(v, objects) for k, v in value.items()}
    return value


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids)
def test_no_credential_is_a_401(call, endpoint):
    method, path, body, _ = endpoint
    response = call(method, path.replace("{", "x").replace("}", ""), data=body)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids)
def test_a_key_without_the_scope_is_a_403(make_key, call, objects, endpoint):
    method, path, body, scope = endpoint
    _, secret = make_key(name="narrow", scopes=[s for s in SANDBOX_SCOPES if s != scope])
    response = call(method, _fill(path, objects), key=secret, data=_fill(body, objects))
    assert response.status_code == 403
    assert scope in response.json()["detail"]


@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS, ids=_ids)
def test_another_organisations_objects_are_404_or_unknown(call, outsider_key, objects, endpoint):
    method, path, body, _ = endpoint
    response = call(method, _fill(path, objects), key=outsider_key, data=_fill(body, objects))
    if "{" in path:
        assert response.status_code == 404, response.json()
        assert response.json()["detail"].startswith("No such")
    else:  # the id is in the body: a field error that says no such object, never a 403
        assert response.status_code == 400 and "No such object" in str(response.json()["errors"])


@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS, ids=_ids)
def test_a_live_key_cannot_reach_test_objects(call, live_key, objects, endpoint):
    method, path, body, _ = endpoint
    response = call(method, _fill(path, objects), key=live_key, data=_fill(body, objects))
    assert response.status_code in (400, 404), response.json()
    assert "No such" in str(response.json())


@pytest.mark.parametrize("path", ["/api/v1/customers", "/api/v1/payments", "/api/v1/refunds", "/api/v1/bank_accounts"])
def test_lists_keep_organisations_and_modes_apart(call, api, live_key, outsider_key, objects, path):
    assert api("get", path).json()["meta"]["total"] >= 1
    assert call("get", path, key=live_key).json()["meta"]["total"] == 0
    assert call("get", path, key=outsider_key).json()["meta"]["total"] == 0


def test_live_objects_are_live_and_invisible_to_test_keys(call, api, live_key):
    live = call("post", "/api/v1/customers", key=live_key, data={"name": "Live"}).json()
    assert live["livemode"] is True
    assert api("get", f"/api/v1/customers/{live['id']}").status_code == 404
    assert [row["id"] for row in call("get", "/api/v1/customers", key=live_key).json()["data"]] == [live["id"]]


def test_a_signed_in_member_works_in_test_mode(client, world, api, objects):
    client.force_login(world.owner)
    response = client.get("/api/v1/customers")
    assert response.status_code == 200
    assert response.json()["meta"]["total"] == 2  # the customer and the subscriber
    viewer = client.get("/api/v1/payments")
    assert viewer.status_code == 200
