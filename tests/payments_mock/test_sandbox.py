"""The sandbox: reset deletes test objects only; sample data tells the same story per seed."""

from __future__ import annotations

from apikeys.models import ApiKey
from payments_mock import services
from payments_mock.models import Customer, Invoice, Payment, Refund, Subscription, Transaction


def test_sample_data_fills_months_of_history_through_the_services(api, world, events):
    response = api("post", "/api/v1/sandbox/sample_data", {"customers": 3, "months": 2, "seed": 7})
    assert response.status_code == 201
    created = response.json()["created"]
    assert created["customers"] == 3 and created["payments"] >= 6
    payments = Payment.objects.filter(organization=world.org, livemode=False)
    invoices = Invoice.objects.filter(organization=world.org, payment__isnull=False)
    assert created["subscriptions"] == 2 and invoices.exists()
    assert payments.count() == created["payments"] + invoices.count()  # card payments and invoice charges
    assert {p.status for p in payments} >= {"succeeded", "failed"}
    oldest = payments.order_by("created_at").first().created_at
    newest = payments.order_by("-created_at").first().created_at
    assert (newest - oldest).days >= 7  # spread over the period, not all "now"
    assert Transaction.objects.filter(organization=world.org, kind="charge").exists()
    assert "payment.succeeded" in events()


def test_the_same_seed_gives_the_same_story(world):
    first = services.sandbox_generate(organization_id=world.org.pk, customers=2, months=1, seed=3)
    amounts = sorted(Payment.objects.values_list("amount", "currency", "status"))
    services.sandbox_reset(organization_id=world.org.pk)
    assert services.sandbox_generate(organization_id=world.org.pk, customers=2, months=1, seed=3) == first
    assert sorted(Payment.objects.values_list("amount", "currency", "status")) == amounts


def test_reset_deletes_test_objects_and_keeps_keys_and_live_data(api, call, live_key, world, outsider_key):
    api("post", "/api/v1/sandbox/sample_data", {"customers": 2, "months": 1})
    live = call("post", "/api/v1/customers", key=live_key, data={"name": "Live"}).json()
    theirs = call("post", "/api/v1/customers", key=outsider_key, data={"name": "Theirs"}).json()
    keys_before = ApiKey.objects.count()

    response = api("post", "/api/v1/sandbox/reset")
    assert response.status_code == 200 and response.json()["deleted"]["customers"] == 2
    assert not Payment.objects.filter(organization=world.org, livemode=False).exists()
    assert not Refund.objects.filter(organization=world.org, livemode=False).exists()
    assert not Transaction.objects.filter(organization=world.org, livemode=False).exists()
    assert not Subscription.objects.filter(organization=world.org, livemode=False).exists()
    assert set(Customer.objects.values_list("public_id", flat=True)) == {live["id"], theirs["id"]}
    assert ApiKey.objects.count() == keys_before
    assert api("get", "/api/v1/customers").json()["meta"]["total"] == 0


def test_a_live_key_cannot_reset_or_generate(call, live_key):
    assert call("post", "/api/v1/sandbox/reset", key=live_key).status_code == 403
    assert call("post", "/api/v1/sandbox/sample_data", key=live_key, data={}).status_code == 403


def test_sample_data_input_is_bounded(api):
    response = api("post", "/api/v1/sandbox/sample_data", {"customers": 500})
    assert response.status_code == 400 and "customers" in response.json()["errors"]


def test_the_demo_seeder_fills_the_sandbox_once(world):
    from portal.demo import DemoWorld, seed_sandbox

    demo = DemoWorld(organizations={"developer": world.org})
    seed_sandbox(demo)
    payments = Payment.objects.filter(organization=world.org, livemode=False).count()
    assert demo.report["sandbox"]["customers"] == 10 and payments > 20
    seed_sandbox(DemoWorld(organizations={"developer": world.org}))
    assert Payment.objects.filter(organization=world.org, livemode=False).count() == payments
