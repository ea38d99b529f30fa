"""Fixtures for the sandbox API tests: keys with every sandbox scope, in each mode and org."""

from __future__ import annotations

import pytest

from tests.apikeys import conftest as keys_conftest

# The key factory, the API caller and the clean hot path of the keys tests.
call = keys_conftest.call
hot_path = keys_conftest.hot_path
make_key = keys_conftest.make_key

SANDBOX_SCOPES = (
    "customers:read",
    "customers:write",
    "payments:read",
    "payments:write",
    "refunds:read",
    "refunds:write",
    "fx:read",
    "fx:write",
    "credit:read",
    "bank_accounts:read",
    "bank_accounts:write",
    "subscriptions:read",
    "subscriptions:write",
    "transactions:read",
    "reports:read",
    "sandbox:reset",
)


@pytest.fixture
def test_key(make_key):
    return make_key(name="sandbox", scopes=SANDBOX_SCOPES)[1]


@pytest.fixture
def live_key(make_key):
    return make_key(name="live", environment="live", scopes=SANDBOX_SCOPES)[1]


@pytest.fixture
def outsider_key(make_key, world):
    return make_key(name="outsider", user=world.outsider, org=world.outsider_org, scopes=SANDBOX_SCOPES)[1]


@pytest.fixture
def api(call, test_key):
    """api("post", "/api/v1/customers", {"name": ...}) with the test key unless `key=` says otherwise."""

    def _api(method, path, data=None, *, key=None, **headers):
        return call(method, path, key=key or test_key, data=data, **headers)

    return _api


@pytest.fixture
def card(api):
    """Tokenise a card number and return the token id."""

    def _card(number="4242424242424242", *, key=None, exp_year=2035, cvc=None):
        cvc = cvc or ("1234" if number.startswith(("34", "37")) else "123")
        response = api(
            "post", "/api/v1/tokens", {"number": number, "exp_month": 12, "exp_year": exp_year, "cvc": cvc}, key=key
        )
        assert response.status_code == 201, response.json()
        return response.json()["id"]

    return _card


@pytest.fixture
def pay(api, card):
    """Create a payment with a test card; returns the response body."""

    def _pay(number="4242424242424242", amount=1050, currency="usd", *, key=None, **extra):
        token = card(number, key=key)
        response = api(
            "post", "/api/v1/payments", {"amount": amount, "currency": currency, "card": token, **extra}, key=key
        )
        assert response.status_code == 201, response.json()
        return response.json()

    return _pay


@pytest.fixture
def events(world):
    """The event types recorded for the test organisation, oldest first."""
    from webhooks.models import Event

    def _events(livemode=False):
        return list(
            Event.objects.filter(organization=world.org, livemode=livemode)
            .order_by("created_at", "id")
            .values_list("type", flat=True)
        )

    return _events
