"""The sandbox pages in a real browser: generate sample data, search the payments, open a
payment and a customer, look at every tab, reset, and render each page at desktop and
phone widths without horizontal overflow."""

from __future__ import annotations

import pytest

from payments_mock.models import Customer, Payment
from tests.e2e.conftest import assert_fits, shot, sign_in_as
from tests.factories import add_member, make_org, make_user


@pytest.fixture
def owner(live_server, transactional_db):
    user = make_user("sandbox@acme.test", full_name="Sandy Box")
    make_org("Sandbox Corp", owner=user)
    return user


def test_an_owner_generates_sample_data_searches_opens_a_payment_and_resets(page, phone_page, live_server, owner):
    sign_in_as(page, live_server, owner)
    page.goto("/sandbox/")
    page.wait_for_selector("text=No test-mode payments yet.")

    page.click("button:has-text('Generate sample data')")
    page.wait_for_selector("text=Sample data generated")
    assert page.locator("tr[data-payment]").count() == 25

    page.fill("input[name=q]", "Grace")
    page.click("button:has-text('Apply')")
    page.wait_for_url("**/sandbox/payments/?q=Grace*")
    graces = Payment.objects.filter(customer__name="Grace Hopper").count()
    assert page.locator("tr[data-payment]").count() == min(graces, 25)
    assert page.locator("tr[data-payment]").first.inner_text().count("Grace Hopper") == 1
    shot(page, "sandbox-payments")
    assert_fits(page)

    page.locator("tr[data-payment] a code").first.click()
    page.wait_for_selector("h2:has-text('History')")
    assert page.locator(".sb-timeline li").count() >= 1
    shot(page, "sandbox-payment-detail")

    page.click(".tabs >> text=Customers")
    page.wait_for_selector("tr[data-customer]")
    assert page.locator("tr[data-customer]").count() == Customer.objects.count()
    shot(page, "sandbox-customers")
    page.locator("tr[data-customer] a").first.click()
    page.wait_for_selector("text=customer.created")
    shot(page, "sandbox-customer-detail")

    for tab, selector, name in (
        ("Subscriptions", "tr[data-subscription]", "sandbox-subscriptions"),
        ("Transactions", "tr[data-transaction]", "sandbox-transactions"),
        ("Test cards", "tr[data-card]", "sandbox-test-cards"),
    ):
        page.click(f".tabs >> text={tab}")
        page.wait_for_selector(selector)
        shot(page, name)

    # Every page again at phone width: no sideways scrolling.
    customer = Customer.objects.first()
    payment = Payment.objects.filter(customer=customer).first()
    sign_in_as(phone_page, live_server, owner)
    for path, name in (
        ("/sandbox/payments/", "sandbox-payments"),
        ("/sandbox/customers/", "sandbox-customers"),
        ("/sandbox/subscriptions/", "sandbox-subscriptions"),
        ("/sandbox/transactions/", "sandbox-transactions"),
        (f"/sandbox/payments/{payment.public_id}/", "sandbox-payment-detail"),
        (f"/sandbox/customers/{customer.public_id}/", "sandbox-customer-detail"),
        ("/sandbox/test-cards/", "sandbox-test-cards"),
    ):
        phone_page.goto(path)
        phone_page.wait_for_selector("nav.tabs")
        assert_fits(phone_page)
        shot(phone_page, name)

    page.click(".tabs >> text=Payments")
    page.click("button:has-text('Reset sandbox')")  # the data-confirm dialog is accepted
    page.wait_for_selector("text=Sandbox reset: deleted")
    page.wait_for_selector("text=No test-mode payments yet.")
    assert not Payment.objects.exists()


def test_a_read_only_member_sees_the_sandbox_without_the_buttons(page, live_server, owner):
    org = owner.memberships.get().organization
    viewer = make_user("viewer@sandbox.test", full_name="Vera Viewer")
    add_member(org, viewer, "read_only")
    sign_in_as(page, live_server, viewer)
    page.goto("/sandbox/test-cards/")
    page.wait_for_selector("tr[data-card]")
    assert page.locator("text=Generate sample data").count() == 0
    assert page.locator("text=Reset sandbox").count() == 0
