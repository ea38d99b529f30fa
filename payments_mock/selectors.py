"""Reads for the sandbox APIs, all scoped through one `Owner`: an organisation and a mode.

A test key sees only test objects and a live key only live ones; an object of another
organisation or the other mode answers 404 (no existence leak). A signed-in member
calling from the portal works in test mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import Model, Q, QuerySet
from django.http import Http404

from apikeys.authentication import KeyContext
from payments_mock.models import (
    BankAccount,
    CardToken,
    Customer,
    FxQuote,
    Invoice,
    Payment,
    Price,
    Product,
    Refund,
    Subscription,
    Transaction,
)


@dataclass(frozen=True, slots=True)
class Owner:
    organization_id: int
    livemode: bool


def owner_from_request(request) -> Owner:
    auth = request.auth
    if isinstance(auth, KeyContext):
        return Owner(organization_id=auth.organization_id, livemode=auth.livemode)
    membership = request._request.membership  # HasScopes has checked there is one
    return Owner(organization_id=membership.organization_id, livemode=False)


def scoped(model: type[Model], owner: Owner) -> QuerySet:
    return model._default_manager.filter(organization_id=owner.organization_id, livemode=owner.livemode)


# A public id is a short prefix and base62 characters (portal/lib/ids.py); anything else
# cannot exist, and is answered without a query (PostgreSQL refuses NUL bytes outright).
PUBLIC_ID = re.compile(r"[a-z]{2,6}_[0-9A-Za-z]{1,40}")


def _get(model: type[Model], owner: Owner, public_id: str, label: str, queryset: QuerySet | None = None):
    if not isinstance(public_id, str) or not PUBLIC_ID.fullmatch(public_id):
        raise Http404(f"No such {label}.")
    found = (queryset if queryset is not None else scoped(model, owner)).filter(public_id=public_id).first()
    if found is None:
        raise Http404(f"No such {label}.")
    return found


def customer_list(*, owner: Owner, email: str | None = None, search: str | None = None) -> QuerySet[Customer]:
    customers = scoped(Customer, owner)
    if email:
        customers = customers.filter(email__iexact=email)
    if search:
        customers = customers.filter(name__icontains=search) | customers.filter(email__icontains=search)
    return customers


def customer_get(*, owner: Owner, public_id: str) -> Customer:
    return _get(Customer, owner, public_id, "customer")


def card_token_get(*, owner: Owner, public_id: str) -> CardToken:
    return _get(CardToken, owner, public_id, "card token")


def payment_list(
    *, owner: Owner, status: str | None = None, customer: str | None = None, currency: str | None = None
) -> QuerySet[Payment]:
    payments = scoped(Payment, owner).select_related("customer", "card", "bank_account")
    if status:
        payments = payments.filter(status=status)
    if customer:
        payments = payments.filter(customer__public_id=customer)
    if currency:
        payments = payments.filter(currency=currency.upper())
    return payments


def payment_get(*, owner: Owner, public_id: str) -> Payment:
    return _get(Payment, owner, public_id, "payment", scoped(Payment, owner).select_related("customer", "card"))


def refund_list(*, owner: Owner, payment: str | None = None, status: str | None = None) -> QuerySet[Refund]:
    refunds = scoped(Refund, owner).select_related("payment")
    if payment:
        refunds = refunds.filter(payment__public_id=payment)
    if status:
        refunds = refunds.filter(status=status)
    return refunds


def refund_get(*, owner: Owner, public_id: str) -> Refund:
    return _get(Refund, owner, public_id, "refund", scoped(Refund, owner).select_related("payment"))


def fx_quote_get(*, owner: Owner, public_id: str) -> FxQuote:
    return _get(FxQuote, owner, public_id, "FX quote")


def bank_account_list(*, owner: Owner, status: str | None = None) -> QuerySet[BankAccount]:
    accounts = scoped(BankAccount, owner).select_related("customer")
    if status:
        accounts = accounts.filter(status=status)
    return accounts


def bank_account_get(*, owner: Owner, public_id: str) -> BankAccount:
    return _get(BankAccount, owner, public_id, "bank account", scoped(BankAccount, owner).select_related("customer"))


def transaction_list(*, owner: Owner) -> QuerySet[Transaction]:
    return scoped(Transaction, owner).select_related("customer")


def product_list(*, owner: Owner) -> QuerySet[Product]:
    return scoped(Product, owner)


def product_get(*, owner: Owner, public_id: str) -> Product:
    return _get(Product, owner, public_id, "product")


def price_list(*, owner: Owner, product: str | None = None) -> QuerySet[Price]:
    prices = scoped(Price, owner).select_related("product")
    if product:
        prices = prices.filter(product__public_id=product)
    return prices


def price_get(*, owner: Owner, public_id: str) -> Price:
    return _get(Price, owner, public_id, "price", scoped(Price, owner).select_related("product"))


def subscription_list(
    *, owner: Owner, status: str | None = None, customer: str | None = None
) -> QuerySet[Subscription]:
    subs = scoped(Subscription, owner).select_related("customer", "price", "card")
    if status:
        subs = subs.filter(status=status)
    if customer:
        subs = subs.filter(customer__public_id=customer)
    return subs


def subscription_get(*, owner: Owner, public_id: str) -> Subscription:
    return _get(Subscription, owner, public_id, "subscription", subscription_list(owner=owner))


def invoice_list(*, owner: Owner, subscription: str | None = None, status: str | None = None) -> QuerySet[Invoice]:
    invoices = scoped(Invoice, owner).select_related("subscription", "customer", "payment")
    if subscription:
        invoices = invoices.filter(subscription__public_id=subscription)
    if status:
        invoices = invoices.filter(status=status)
    return invoices


def invoice_get(*, owner: Owner, public_id: str) -> Invoice:
    return _get(Invoice, owner, public_id, "invoice", invoice_list(owner=owner))


# ---- the portal's sandbox pages --------------------------------------------------------------
# A signed-in member works on the organisation's test-mode objects only; these add the
# free-text search and the object history the pages show on top of the lists above.


def portal_owner(*, organization_id: int) -> Owner:
    return Owner(organization_id=organization_id, livemode=False)


def payment_search(
    *, owner: Owner, query: str = "", status: str | None = None, currency: str | None = None
) -> QuerySet[Payment]:
    payments = payment_list(owner=owner, status=status, currency=currency)
    if query:
        payments = payments.filter(
            Q(public_id=query)
            | Q(description__icontains=query)
            | Q(customer__name__icontains=query)
            | Q(customer__email__icontains=query)
            | Q(card__last4=query)
        )
    return payments


def customer_search(*, owner: Owner, query: str = "") -> QuerySet[Customer]:
    customers = scoped(Customer, owner)
    if query:
        customers = customers.filter(
            Q(public_id=query) | Q(name__icontains=query) | Q(email__icontains=query) | Q(description__icontains=query)
        )
    return customers


def subscription_search(*, owner: Owner, query: str = "", status: str | None = None) -> QuerySet[Subscription]:
    subs = subscription_list(owner=owner, status=status).select_related("price__product")
    if query:
        subs = subs.filter(
            Q(public_id=query)
            | Q(customer__name__icontains=query)
            | Q(customer__email__icontains=query)
            | Q(price__product__name__icontains=query)
            | Q(price__nickname__icontains=query)
        )
    return subs


def transaction_search(
    *,
    owner: Owner,
    query: str = "",
    kind: str | None = None,
    status: str | None = None,
    currency: str | None = None,
    customer: str | None = None,
) -> QuerySet[Transaction]:
    txns = transaction_list(owner=owner)
    if kind:
        txns = txns.filter(kind=kind)
    if status:
        txns = txns.filter(status=status)
    if currency:
        txns = txns.filter(currency=currency.upper())
    if customer:
        txns = txns.filter(customer__public_id=customer)
    if query:
        txns = txns.filter(
            Q(public_id=query)
            | Q(source_id=query)
            | Q(description__icontains=query)
            | Q(customer__name__icontains=query)
            | Q(customer__email__icontains=query)
        )
    return txns


def transaction_get(*, owner: Owner, public_id: str) -> Transaction:
    return _get(Transaction, owner, public_id, "transaction", transaction_list(owner=owner))


def transactions_for_sources(*, owner: Owner, source_ids: list[str]) -> QuerySet[Transaction]:
    return transaction_list(owner=owner).filter(source_id__in=source_ids).order_by("-created_at", "-id")


def object_events(*, owner: Owner, public_id: str, references: tuple[str, ...] = (), limit: int = 50) -> list:
    """The outbox events about an object, newest first: its own (`data.id`) and, for each
    key in `references`, those of objects that point at it (a refund's `data.payment`)."""
    from webhooks.models import Event

    match = Q(data__id=public_id)
    for key in references:
        match |= Q(**{f"data__{key}": public_id})
    events = Event.objects.filter(organization_id=owner.organization_id, livemode=owner.livemode).filter(match)
    return list(events.order_by("-created_at", "-id")[:limit])
