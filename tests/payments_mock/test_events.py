"""Events go to the webhooks outbox in the change's transaction, or the change fails."""

from __future__ import annotations

import sys

import pytest

from payments_mock import events, services
from payments_mock.models import Customer
from payments_mock.selectors import Owner


def test_a_missing_outbox_is_an_error_not_a_silent_drop(world, monkeypatch):
    monkeypatch.setitem(sys.modules, "webhooks.services", None)  # makes the import fail
    with pytest.raises(events.OutboxUnavailable):
        services.customer_create(owner=Owner(organization_id=world.org.pk, livemode=False), name="Lost")
    assert not Customer.objects.filter(name="Lost").exists()  # the change rolled back with it


def test_unknown_event_types_are_refused(world):
    with pytest.raises(ValueError, match="unknown sandbox event type"):
        events.record(organization_id=world.org.pk, livemode=False, type="payment.exploded", data={})


def test_an_event_carries_the_object_and_the_mode(api, call, live_key, world):
    from webhooks.models import Event

    created = api("post", "/api/v1/customers", {"name": "Ada", "email": "ada@example.com"}).json()
    call("post", "/api/v1/customers", key=live_key, data={"name": "Live"})
    test_event = Event.objects.get(organization=world.org, livemode=False, type="customer.created")
    assert test_event.data["id"] == created["id"] and test_event.data["email"] == "ada@example.com"
    assert Event.objects.filter(organization=world.org, livemode=True, type="customer.created").count() == 1
