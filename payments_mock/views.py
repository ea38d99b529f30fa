"""The portal's sandbox pages: the organisation's test-mode payments, customers,
subscriptions and transactions, each object's history, the test cards, and the reset
and sample-data buttons.

Pages read through `payments_mock.selectors` with a test-mode `Owner`, so live objects
never show here and another organisation's id answers 404. The two buttons call the
same services as the API's `/sandbox/reset` and `/sandbox/sample_data`.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import F
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import org_permission_required
from payments_mock import selectors, services, testcards
from payments_mock.models import Payment, Subscription, Transaction
from portal.lib.money import CURRENCIES, MoneyError, format_money

PAGE_SIZE = 25
RELATED_ROWS = 25
MAX_QUERY = 100

# Each list's sorts: the query-string value -> (label, ordering). The first is the default.
PAYMENT_SORTS = {
    "-created": ("Newest first", [F("created_at").desc(), F("id").desc()]),
    "created": ("Oldest first", [F("created_at").asc(), F("id").asc()]),
    "-amount": ("Largest amount", [F("amount").desc(), F("id").desc()]),
    "amount": ("Smallest amount", [F("amount").asc(), F("id").asc()]),
}
CUSTOMER_SORTS = {
    "-created": ("Newest first", [F("created_at").desc(), F("id").desc()]),
    "created": ("Oldest first", [F("created_at").asc(), F("id").asc()]),
    "name": ("Name A–Z", [F("name").asc(), F("id").asc()]),
    "-name": ("Name Z–A", [F("name").desc(), F("id").desc()]),
    "email": ("E-mail A–Z", [F("email").asc(), F("id").asc()]),
}
SUBSCRIPTION_SORTS = {
    "-created": ("Newest first", [F("created_at").desc(), F("id").desc()]),
    "created": ("Oldest first", [F("created_at").asc(), F("id").asc()]),
    "period_end": ("Renews soonest", [F("current_period_end").asc(), F("id").asc()]),
    "-period_end": ("Renews latest", [F("current_period_end").desc(), F("id").desc()]),
}
TRANSACTION_SORTS = {
    "-created": ("Newest first", [F("created_at").desc(), F("id").desc()]),
    "created": ("Oldest first", [F("created_at").asc(), F("id").asc()]),
    "-amount": ("Largest amount", [F("amount").desc(), F("id").desc()]),
    "amount": ("Smallest amount", [F("amount").asc(), F("id").asc()]),
}

# Status -> badge class, shared by every table.
BADGES = {
    "succeeded": "badge-success",
    "posted": "badge-success",
    "active": "badge-success",
    "paid": "badge-success",
    "verified": "badge-success",
    "trialing": "badge-primary",
    "processing": "badge-primary",
    "pending": "badge-primary",
    "open": "badge-primary",
    "requires_confirmation": "badge-warning",
    "requires_action": "badge-warning",
    "requires_capture": "badge-warning",
    "past_due": "badge-warning",
    "failed": "badge-danger",
    "uncollectible": "badge-danger",
    "canceled": "",
    "void": "",
}


# ---- helpers -------------------------------------------------------------------------------


def _owner(request) -> selectors.Owner:
    return selectors.portal_owner(organization_id=request.membership.organization_id)


def money(amount: int, currency: str) -> str:
    """Minor units as the currency shows them (1050 USD -> "10.50 USD", 1050 JPY -> "1,050 JPY")."""
    try:
        return format_money(amount, currency)
    except MoneyError:
        return f"{amount} {currency} (minor units)"


def _decorate(rows, *, amount: str = "amount", status: str = "status") -> list:
    """Give each row the strings the templates show: its formatted amount and badge class."""
    rows = list(rows)
    for row in rows:
        if amount:
            row.money = money(getattr(row, amount), row.currency)
        if status:
            row.badge = BADGES.get(getattr(row, status), "")
    return rows


def _choice(value: str | None, allowed) -> str:
    return value if value in allowed else ""


def _listing(request, queryset, sorts: dict, filters: dict[str, str]) -> dict:
    """Sort, paginate and describe a list page; every choice lives in the query string."""
    sort = _choice(request.GET.get("sort"), sorts) or next(iter(sorts))
    page = Paginator(queryset.order_by(*sorts[sort][1]), PAGE_SIZE).get_page(request.GET.get("page"))
    kept = {k: v for k, v in filters.items() if v}
    if sort != next(iter(sorts)):
        kept["sort"] = sort
    return {
        "page": page,
        "sort": sort,
        "sorts": [(value, label) for value, (label, _order) in sorts.items()],
        "query": urlencode(kept),
        "filtered": bool(set(kept) - {"sort"}),
        **filters,
    }


def _search_text(request) -> str:
    return request.GET.get("q", "").strip()[:MAX_QUERY]


def _context(request, tab: str, **extra) -> dict:
    return {"tab": tab, "can_reset": request.membership.has_perm("sandbox:reset"), **extra}


def _currencies() -> list[str]:
    return sorted(CURRENCIES)


# ---- lists ---------------------------------------------------------------------------------


@org_permission_required("payments:read")
@require_GET
def index(request):
    return redirect("sandbox:payments")


@org_permission_required("payments:read")
@require_GET
def payment_list(request):
    q = _search_text(request)
    status = _choice(request.GET.get("status"), Payment.Status.values)
    currency = _choice(request.GET.get("currency", "").upper(), CURRENCIES)
    payments = selectors.payment_search(
        owner=_owner(request), query=q, status=status or None, currency=currency or None
    )
    listing = _listing(request, payments, PAYMENT_SORTS, {"q": q, "status": status, "currency": currency})
    rows = _decorate(listing["page"])
    context = _context(
        request,
        "payments",
        rows=rows,
        statuses=Payment.Status.values,
        currencies=_currencies(),
        **listing,
    )
    return render(request, "payments_mock/payment_list.html", context)


@org_permission_required("customers:read")
@require_GET
def customer_list(request):
    q = _search_text(request)
    listing = _listing(request, selectors.customer_search(owner=_owner(request), query=q), CUSTOMER_SORTS, {"q": q})
    context = _context(request, "customers", rows=list(listing["page"]), **listing)
    return render(request, "payments_mock/customer_list.html", context)


@org_permission_required("subscriptions:read")
@require_GET
def subscription_list(request):
    q = _search_text(request)
    status = _choice(request.GET.get("status"), Subscription.Status.values)
    subs = selectors.subscription_search(owner=_owner(request), query=q, status=status or None)
    listing = _listing(request, subs, SUBSCRIPTION_SORTS, {"q": q, "status": status})
    rows = _decorate(listing["page"], amount="")
    for sub in rows:
        sub.plan_money = money(sub.price.unit_amount, sub.price.currency)
    context = _context(request, "subscriptions", rows=rows, statuses=Subscription.Status.values, **listing)
    return render(request, "payments_mock/subscription_list.html", context)


@org_permission_required("transactions:read")
@require_GET
def transaction_list(request):
    q = _search_text(request)
    kind = _choice(request.GET.get("kind"), Transaction.Kind.values)
    status = _choice(request.GET.get("status"), Transaction.Status.values)
    currency = _choice(request.GET.get("currency", "").upper(), CURRENCIES)
    txns = selectors.transaction_search(
        owner=_owner(request), query=q, kind=kind or None, status=status or None, currency=currency or None
    )
    listing = _listing(request, txns, TRANSACTION_SORTS, {"q": q, "kind": kind, "status": status, "currency": currency})
    context = _context(
        request,
        "transactions",
        rows=_decorate(listing["page"]),
        kinds=Transaction.Kind.values,
        statuses=Transaction.Status.values,
        currencies=_currencies(),
        **listing,
    )
    return render(request, "payments_mock/transaction_list.html", context)


@org_permission_required("payments:read")
@require_GET
def test_cards(request):
    context = _context(
        request,
        "test_cards",
        cards=testcards.TEST_CARDS,
        routing_numbers=testcards.TEST_ROUTING_NUMBERS,
        micro_deposits=testcards.TEST_MICRO_DEPOSITS,
    )
    return render(request, "payments_mock/test_cards.html", context)


# ---- details -------------------------------------------------------------------------------


def _events(owner, public_id: str, references: tuple[str, ...] = ()) -> list:
    events = selectors.object_events(owner=owner, public_id=public_id, references=references)
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        event.subject = data.get("id", "")
        if isinstance(data.get("amount"), int) and isinstance(data.get("currency"), str):
            event.money = money(data["amount"], data["currency"])
    return events


def _source_url(source_id: str) -> str | None:
    """Where a ledger entry's source lives in the portal (a refund shows on its payment)."""
    if source_id.startswith("pay_"):
        return reverse("sandbox:payment_detail", args=[source_id])
    return None


@org_permission_required("payments:read")
@require_GET
def payment_detail(request, public_id: str):
    owner = _owner(request)
    payment = selectors.payment_get(owner=owner, public_id=public_id)
    payment.money = money(payment.amount, payment.currency)
    payment.badge = BADGES.get(payment.status, "")
    amounts = [
        ("Captured", money(payment.amount_captured, payment.currency)),
        ("Refunded", money(payment.amount_refunded, payment.currency)),
    ]
    if payment.amount_capturable:
        amounts.insert(0, ("Capturable", money(payment.amount_capturable, payment.currency)))
    refunds = _decorate(selectors.refund_list(owner=owner, payment=payment.public_id).order_by("-created_at", "-id"))
    ledger = _decorate(
        selectors.transactions_for_sources(
            owner=owner, source_ids=[payment.public_id, *(r.public_id for r in refunds)]
        )[:RELATED_ROWS]
    )
    context = _context(
        request,
        "payments",
        payment=payment,
        amounts=amounts,
        refunds=refunds,
        ledger=ledger,
        events=_events(owner, payment.public_id, references=("payment",)),
    )
    return render(request, "payments_mock/payment_detail.html", context)


@org_permission_required("customers:read")
@require_GET
def customer_detail(request, public_id: str):
    owner = _owner(request)
    customer = selectors.customer_get(owner=owner, public_id=public_id)
    payments = selectors.payment_list(owner=owner, customer=customer.public_id).order_by("-created_at", "-id")
    subs = selectors.subscription_list(owner=owner, customer=customer.public_id).select_related("price__product")
    context = _context(
        request,
        "customers",
        customer=customer,
        payments=_decorate(payments[:RELATED_ROWS]),
        payment_count=payments.count(),
        subscriptions=_decorate(subs.order_by("-created_at", "-id"), amount=""),
        events=_events(owner, customer.public_id, references=("customer",)),
    )
    return render(request, "payments_mock/customer_detail.html", context)


@org_permission_required("subscriptions:read")
@require_GET
def subscription_detail(request, public_id: str):
    owner = _owner(request)
    sub = selectors.subscription_get(owner=owner, public_id=public_id)
    sub.badge = BADGES.get(sub.status, "")
    sub.plan_money = money(sub.price.unit_amount, sub.price.currency)
    sub.credit_money = money(sub.credit_balance, sub.price.currency)
    invoices = selectors.invoice_list(owner=owner, subscription=sub.public_id).order_by("-created_at", "-id")
    invoices = _decorate(invoices[:RELATED_ROWS], amount="amount_due")
    for invoice in invoices:
        invoice.paid_money = money(invoice.amount_paid, invoice.currency)
    context = _context(
        request,
        "subscriptions",
        sub=sub,
        invoices=invoices,
        events=_events(owner, sub.public_id, references=("subscription",)),
    )
    return render(request, "payments_mock/subscription_detail.html", context)


@org_permission_required("transactions:read")
@require_GET
def transaction_detail(request, public_id: str):
    owner = _owner(request)
    txn = selectors.transaction_get(owner=owner, public_id=public_id)
    txn.money = money(txn.amount, txn.currency)
    txn.badge = BADGES.get(txn.status, "")
    source_url = _source_url(txn.source_id)
    payment_id = txn.source_id
    if txn.source_id.startswith("re_"):
        refund = selectors.refund_list(owner=owner).filter(public_id=txn.source_id).first()
        if refund is not None:
            payment_id = refund.payment.public_id
            source_url = _source_url(payment_id)
    siblings = selectors.transactions_for_sources(owner=owner, source_ids=[txn.source_id]).exclude(pk=txn.pk)
    context = _context(
        request,
        "transactions",
        txn=txn,
        source_url=source_url,
        siblings=_decorate(siblings[:RELATED_ROWS]),
        events=_events(owner, txn.source_id, references=("payment",) if payment_id == txn.source_id else ()),
    )
    return render(request, "payments_mock/transaction_detail.html", context)


# ---- reset and sample data -----------------------------------------------------------------


def _counts(counts: dict[str, int]) -> str:
    shown = [f"{n} {label.replace('_', ' ')}" for label, n in counts.items() if n]
    return ", ".join(shown) if shown else "nothing"


@org_permission_required("sandbox:reset")
@require_POST
def reset(request):
    deleted = services.sandbox_reset(organization_id=request.membership.organization_id)
    messages.success(request, f"Sandbox reset: deleted {_counts(deleted)}. Your API keys were kept.")
    return redirect("sandbox:payments")


@org_permission_required("sandbox:reset")
@require_POST
def generate(request):
    created = services.sandbox_generate(organization_id=request.membership.organization_id)
    messages.success(request, f"Sample data generated: {_counts(created)}.")
    return redirect("sandbox:payments")
