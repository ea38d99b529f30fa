"""The portal's sandbox pages: lists, details with history, test cards, reset and sample data."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apikeys.models import ApiKey
from payments_mock import services
from payments_mock.models import Customer, Payment, Subscription, Transaction
from payments_mock.selectors import Owner
from payments_mock.testcards import TEST_CARDS, TEST_ROUTING_NUMBERS


@pytest.fixture
def sample(world):
    """The test organisation's sandbox filled with the standard sample data."""
    services.sandbox_generate(organization_id=world.org.pk)
    return world


def _pay(org, *, amount=1050, currency="USD", number="4242424242424242", livemode=False, **extra):
    owner = Owner(organization_id=org.pk, livemode=livemode)
    card = services.card_tokenize(owner=owner, number=number, exp_month=12, exp_year=2035, cvc="123")
    return services.payment_create(owner=owner, amount=amount, currency=currency, card=card, **extra)


def _ids(response, attribute: str) -> list[str]:
    return re.findall(rf'data-{attribute}="([^"]+)"', response.content.decode())


LISTS = ("sandbox:payments", "sandbox:customers", "sandbox:subscriptions", "sandbox:transactions", "sandbox:test_cards")


@pytest.mark.parametrize("name", LISTS)
@pytest.mark.parametrize("who", ["owner", "read_only"])
def test_every_list_page_renders_for_the_owner_and_a_read_only_member(client, sample, name, who):
    client.force_login(getattr(sample, who))
    response = client.get(reverse(name))
    assert response.status_code == 200
    assert b'class="tabs" aria-label="Sandbox"' in response.content
    assert (b"Generate sample data" in response.content) is (who == "owner")
    assert (b"Reset sandbox" in response.content) is (who == "owner")


@pytest.mark.parametrize("who", ["owner", "read_only"])
def test_every_detail_page_renders_with_its_history(client, sample, who):
    client.force_login(getattr(sample, who))
    payment = Payment.objects.filter(organization=sample.org, refunds__isnull=False).first()
    customer = payment.customer
    subscription = Subscription.objects.filter(organization=sample.org).first()
    txn = Transaction.objects.filter(organization=sample.org, source_id=payment.public_id).first()

    page = client.get(reverse("sandbox:payment_detail", args=[payment.public_id])).content.decode()
    assert payment.public_id in page and "payment.succeeded" in page and "refund.succeeded" in page
    assert payment.refunds.first().public_id in page
    assert txn.public_id in page

    page = client.get(reverse("sandbox:customer_detail", args=[customer.public_id])).content.decode()
    assert "customer.created" in page and payment.public_id in page

    page = client.get(reverse("sandbox:subscription_detail", args=[subscription.public_id])).content.decode()
    assert "subscription.created" in page and subscription.customer.name in page

    page = client.get(reverse("sandbox:transaction_detail", args=[txn.public_id])).content.decode()
    assert txn.public_id in page and payment.public_id in page and "payment.succeeded" in page


def test_the_history_lists_the_newest_event_first(client, world):
    payment = _pay(world.org)
    services.refund_create(payment=payment, amount=100)
    client.force_login(world.owner)
    page = client.get(reverse("sandbox:payment_detail", args=[payment.public_id])).content.decode()
    assert page.index("refund.succeeded") < page.index("payment.succeeded")


def test_amounts_are_shown_in_major_units_with_the_currency(client, world):
    _pay(world.org, amount=123456, currency="USD")
    _pay(world.org, amount=1050, currency="JPY")
    client.force_login(world.owner)
    page = client.get(reverse("sandbox:payments")).content.decode()
    assert "1,234.56 USD" in page
    assert "1,050 JPY" in page


def test_the_payments_list_searches_filters_and_sorts_from_the_query_string(client, world):
    small = _pay(world.org, amount=500, description="Coffee beans")
    large = _pay(world.org, amount=90000, description="Espresso machine")
    declined = _pay(world.org, amount=700, number="4000000000000002", description="Grinder")
    client.force_login(world.owner)
    url = reverse("sandbox:payments")

    assert _ids(client.get(url, {"q": "espresso"}), "payment") == [large.public_id]
    assert _ids(client.get(url, {"q": small.public_id}), "payment") == [small.public_id]
    assert _ids(client.get(url, {"status": "failed"}), "payment") == [declined.public_id]
    assert _ids(client.get(url, {"sort": "amount"}), "payment") == [
        small.public_id,
        declined.public_id,
        large.public_id,
    ]
    assert _ids(client.get(url, {"sort": "-amount"}), "payment")[0] == large.public_id
    assert client.get(url, {"q": "nothing like this"}).content.count(b"No payments match") == 1
    # Nonsense in the query string is ignored, not a 500.
    assert client.get(url, {"sort": "id; drop", "status": "bogus", "currency": "XXX", "page": "-3"}).status_code == 200


def test_the_other_lists_search_and_sort(client, sample):
    client.force_login(sample.owner)
    ada = Customer.objects.get(organization=sample.org, email="ada@example.com")
    assert _ids(client.get(reverse("sandbox:customers"), {"q": "ada@"}), "customer") == [ada.public_id]
    names = _ids(client.get(reverse("sandbox:customers"), {"sort": "name"}), "customer")
    expected = list(
        Customer.objects.filter(organization=sample.org).order_by("name").values_list("public_id", flat=True)
    )
    assert names == expected

    subs = _ids(client.get(reverse("sandbox:subscriptions"), {"q": "Ada"}), "subscription")
    assert subs == list(Subscription.objects.filter(customer=ada).values_list("public_id", flat=True))

    fees = _ids(client.get(reverse("sandbox:transactions"), {"kind": "fee", "sort": "amount"}), "transaction")
    assert fees and set(fees) <= set(Transaction.objects.filter(kind="fee").values_list("public_id", flat=True))
    txn = Transaction.objects.filter(organization=sample.org).first()
    assert _ids(client.get(reverse("sandbox:transactions"), {"q": txn.source_id}), "transaction") == list(
        Transaction.objects.filter(source_id=txn.source_id)
        .order_by("-created_at", "-id")
        .values_list("public_id", flat=True)
    )


def test_lists_paginate_25_a_page_and_keep_the_filters_in_the_links(client, world):
    for index in range(30):
        _pay(world.org, amount=100 + index, description=f"Order {index}")
    client.force_login(world.owner)
    url = reverse("sandbox:payments")
    first = client.get(url, {"q": "order", "sort": "amount"})
    assert len(_ids(first, "payment")) == 25
    assert b"?q=order&amp;sort=amount&amp;page=2" in first.content
    second = client.get(url, {"q": "order", "sort": "amount", "page": 2})
    assert len(_ids(second, "payment")) == 5
    assert not set(_ids(first, "payment")) & set(_ids(second, "payment"))


@pytest.mark.parametrize(
    "name", ["sandbox:payments", "sandbox:customers", "sandbox:subscriptions", "sandbox:transactions"]
)
def test_list_pages_make_a_bounded_number_of_queries(client, sample, name, django_assert_max_num_queries):
    client.force_login(sample.owner)
    with django_assert_max_num_queries(12):
        response = client.get(reverse(name))
    assert response.status_code == 200


def test_live_objects_never_show_in_the_sandbox(client, world):
    live = _pay(world.org, livemode=True, description="Live order")
    client.force_login(world.owner)
    assert live.public_id.encode() not in client.get(reverse("sandbox:payments")).content
    assert client.get(reverse("sandbox:payment_detail", args=[live.public_id])).status_code == 404


def test_another_organisations_objects_answer_404(client, world):
    theirs = _pay(world.outsider_org)
    txn = Transaction.objects.filter(source_id=theirs.public_id).first()
    client.force_login(world.owner)
    assert client.get(reverse("sandbox:payment_detail", args=[theirs.public_id])).status_code == 404
    assert client.get(reverse("sandbox:customer_detail", args=["cus_doesnotexist"])).status_code == 404
    assert client.get(reverse("sandbox:subscription_detail", args=["sub_nope"])).status_code == 404
    assert client.get(reverse("sandbox:transaction_detail", args=[txn.public_id])).status_code == 404
    assert client.get(reverse("sandbox:payment_detail", args=["not an id"])).status_code == 404
    assert theirs.public_id.encode() not in client.get(reverse("sandbox:payments")).content


def test_signed_out_visitors_are_sent_to_log_in(client, world):
    response = client.get(reverse("sandbox:payments"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("name", ["sandbox:reset", "sandbox:generate"])
def test_a_read_only_member_gets_403_on_reset_and_generate(client, sample, name):
    before = Payment.objects.filter(organization=sample.org).count()
    client.force_login(sample.read_only)
    assert client.post(reverse(name)).status_code == 403
    assert Payment.objects.filter(organization=sample.org).count() == before


def test_reset_and_generate_accept_only_post(client, world):
    client.force_login(world.owner)
    assert client.get(reverse("sandbox:reset")).status_code == 405
    assert client.get(reverse("sandbox:generate")).status_code == 405


def test_generate_fills_the_sandbox_and_says_what_it_made(client, world):
    client.force_login(world.owner)
    response = client.post(reverse("sandbox:generate"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("sandbox:payments")
    assert Customer.objects.filter(organization=world.org, livemode=False).count() == 8
    assert Payment.objects.filter(organization=world.org, livemode=False).exists()
    assert b"Sample data generated: 8 customers" in response.content
    assert len(_ids(response, "payment")) == 25


def test_reset_deletes_test_objects_but_keeps_keys_live_data_and_other_organisations(client, sample, make_key):
    key = make_key(name="keep me", scopes=("payments:read",))[0]
    live = _pay(sample.org, livemode=True)
    theirs = _pay(sample.outsider_org)
    client.force_login(sample.owner)
    response = client.post(reverse("sandbox:reset"), follow=True)
    assert b"Sandbox reset: deleted" in response.content and b"API keys were kept" in response.content
    for model in (Customer, Payment, Subscription, Transaction):
        assert not model.objects.filter(organization=sample.org, livemode=False).exists()
    assert ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).exists()
    assert Payment.objects.filter(pk__in=[live.pk, theirs.pk]).count() == 2
    assert b"No test-mode payments yet." in response.content


def test_the_test_cards_panel_lists_every_documented_card_and_routing_number(client, world):
    client.force_login(world.read_only)
    page = client.get(reverse("sandbox:test_cards")).content.decode()
    for card in TEST_CARDS:
        assert f'data-card="{card.number}"' in page
    for routing in TEST_ROUTING_NUMBERS:
        assert f'data-routing="{routing.routing_number}"' in page


def test_the_nav_links_to_the_sandbox_for_members_who_may_read_payments(client, world):
    client.force_login(world.read_only)
    page = client.get(reverse("portal:dashboard")).content.decode()
    assert f'href="{reverse("sandbox:payments")}"' in page


def test_pages_carry_no_inline_script_or_style(client, sample):
    client.force_login(sample.owner)
    payment = Payment.objects.filter(organization=sample.org).first()
    for url in [reverse(name) for name in LISTS] + [reverse("sandbox:payment_detail", args=[payment.public_id])]:
        body = client.get(url).content.decode()
        assert " style=" not in body and "onclick=" not in body
        assert not re.search(r"<script(?![^>]*\bsrc=)", body)
