"""Subscriptions: products, prices, periods, proration, invoices, dunning and the test clock.

Periods are counted from the billing-cycle anchor, never from the previous period's
end, so a subscription that starts on 31 January renews on 29 February (in a leap
year), then 31 March: the day is clamped to the month, and the anchor keeps the
intended day. Proration is exact to the second: a change of price at instant t credits
the unused part of the old price and charges the same part of the new one,
`amount × (period_end − t) / (period_end − period_start)`, each rounded half-even to
the minor unit. A credit left by a downgrade is carried to the next invoice.

Invoices are paid through the payment flow with the subscription's card. A failed
attempt makes the subscription past_due and schedules retries (`DUNNING_SCHEDULE`);
after the last retry fails the invoice is uncollectible and the subscription canceled.

Test mode has a per-organisation clock: once created, test-mode billing runs at the
clock's time and `test_clock_advance` moves it, running every renewal and retry due
on the way, so an integrator can watch a year of renewals in one request.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from payments_mock import events, services, testcards
from payments_mock.models import CardToken, Customer, Invoice, Payment, Price, Product, Subscription, TestClock
from payments_mock.selectors import Owner

DUNNING_SCHEDULE = (timedelta(days=1), timedelta(days=3), timedelta(days=5))  # after attempts 1, 2, 3
MAX_ADVANCE = timedelta(days=3 * 366)
MAX_RENEWALS_PER_ADVANCE = 1000


# ---- pure period and proration arithmetic ---------------------------------------------------


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus whole months, the day clamped to the target month (31 Jan + 1 = 28/29 Feb)."""
    total = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(total, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def period_boundary(anchor: datetime, interval: str, count: int, n: int) -> datetime:
    """The start of period `n` (0 is the anchor) for a price billed every `count` `interval`s."""
    if interval == Price.Interval.DAY:
        return anchor + timedelta(days=count * n)
    if interval == Price.Interval.WEEK:
        return anchor + timedelta(weeks=count * n)
    if interval == Price.Interval.MONTH:
        return add_months(anchor, count * n)
    return add_months(anchor, 12 * count * n)


def prorate(amount: int, *, start: datetime, end: datetime, at: datetime) -> int:
    """The part of `amount` for the time from `at` to `end` of the period [start, end), to the second."""
    total = int((end - start).total_seconds())
    remaining = int((end - max(at, start)).total_seconds())
    if total <= 0 or remaining <= 0:
        return 0
    return int((Decimal(amount) * remaining / total).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


# ---- clock ---------------------------------------------------------------------------------


def now_for(owner: Owner) -> datetime:
    """Billing time: the test clock's in test mode when the organisation has one, else now."""
    if not owner.livemode:
        clock = TestClock.objects.filter(organization_id=owner.organization_id).first()
        if clock is not None:
            return clock.frozen_time
    return timezone.now()


def test_clock_get(*, owner: Owner) -> TestClock:
    clock, _ = TestClock.objects.get_or_create(
        organization_id=owner.organization_id, defaults={"frozen_time": timezone.now()}
    )
    return clock


def test_clock_advance(*, owner: Owner, to: datetime) -> tuple[TestClock, int]:
    """Move the clock forward to `to`, running the renewals and retries that fall due on the way."""
    with transaction.atomic():
        clock = TestClock.objects.select_for_update().filter(organization_id=owner.organization_id).first()
        if clock is None:
            clock = TestClock.objects.create(organization_id=owner.organization_id, frozen_time=timezone.now())
        if to <= clock.frozen_time:
            raise ValidationError({"to": ["The clock only moves forward."]})
        if to - clock.frozen_time > MAX_ADVANCE:
            raise ValidationError({"to": ["Advance at most three years at a time."]})
        clock.frozen_time = to
        clock.save(update_fields=["frozen_time"])
    processed = billing_run(owner=owner, now=to)
    return clock, processed


# ---- products and prices -------------------------------------------------------------------


@transaction.atomic
def product_create(*, owner: Owner, name: str, description: str = "", metadata: dict | None = None) -> Product:
    return Product.objects.create(
        organization_id=owner.organization_id,
        livemode=owner.livemode,
        name=name,
        description=description,
        metadata=metadata or {},
    )


@transaction.atomic
def price_create(
    *,
    product: Product,
    currency: str,
    unit_amount: int,
    interval: str,
    interval_count: int = 1,
    nickname: str = "",
) -> Price:
    return Price.objects.create(
        organization_id=product.organization_id,
        livemode=product.livemode,
        product=product,
        currency=currency,
        unit_amount=unit_amount,
        interval=interval,
        interval_count=interval_count,
        nickname=nickname,
    )


# ---- subscriptions -------------------------------------------------------------------------


def subscription_data(sub: Subscription) -> dict[str, Any]:
    return {
        "id": sub.public_id,
        "object": "subscription",
        "customer": sub.customer.public_id,
        "status": sub.status,
        "price": sub.price.public_id,
        "current_period_end": sub.current_period_end.isoformat(),
        "cancel_at_period_end": sub.cancel_at_period_end,
    }


def invoice_data(invoice: Invoice) -> dict[str, Any]:
    return {
        "id": invoice.public_id,
        "object": "invoice",
        "customer": invoice.customer.public_id,
        "subscription": invoice.subscription.public_id,
        "amount_due": invoice.amount_due,
        "currency": invoice.currency,
        "status": invoice.status,
        "attempt_count": invoice.attempt_count,
    }


def _event(obj, type: str, data: dict) -> None:
    events.record(organization_id=obj.organization_id, livemode=obj.livemode, type=type, data=data)


def _save(sub: Subscription, *fields: str) -> None:
    sub.updated_at = timezone.now()
    sub.save(update_fields=[*fields, "updated_at"])


def _lock(sub: Subscription) -> Subscription:
    return (
        Subscription.objects.select_for_update(of=("self",)).select_related("customer", "price", "card").get(pk=sub.pk)
    )


def _line(description: str, amount: int, start: datetime, end: datetime, *, proration: bool = False) -> dict:
    return {
        "description": description,
        "amount": amount,
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "proration": proration,
    }


def _price_label(price: Price) -> str:
    every = f"{price.interval_count} {price.interval}s" if price.interval_count > 1 else price.interval
    return f"{price.product.name} ({price.unit_amount} {price.currency} per {every})"


def _invoice_create(
    sub: Subscription, *, lines: list[dict], reason: str, start: datetime, end: datetime, now: datetime
) -> Invoice:
    subtotal = sum(line["amount"] for line in lines)
    applied = min(sub.credit_balance, max(subtotal, 0))
    if applied:
        sub.credit_balance -= applied
        _save(sub, "credit_balance")
    invoice = Invoice.objects.create(
        organization_id=sub.organization_id,
        livemode=sub.livemode,
        subscription=sub,
        customer=sub.customer,
        currency=sub.price.currency,
        subtotal=subtotal,
        credit_applied=applied,
        amount_due=max(subtotal - applied, 0),
        billing_reason=reason,
        lines=lines,
        period_start=start,
        period_end=end,
        created_at=now,
    )
    _invoice_attempt(invoice, sub, now=now)
    return invoice


def _invoice_attempt(invoice: Invoice, sub: Subscription, *, now: datetime) -> None:
    """Collect an open invoice with the subscription's card; dunning on failure."""
    if invoice.amount_due == 0:
        _invoice_paid(invoice, sub, now=now)
        return
    invoice.attempt_count += 1
    payment = services.payment_create(
        owner=Owner(organization_id=sub.organization_id, livemode=sub.livemode),
        amount=invoice.amount_due,
        currency=invoice.currency,
        card=sub.card,
        customer=sub.customer,
        description=f"Invoice {invoice.public_id}",
        metadata={"invoice": invoice.public_id, "subscription": sub.public_id},
    )
    if payment.status == Payment.Status.REQUIRES_ACTION:
        # Renewals are charged with the customer away: a card that needs 3-D Secure fails.
        services.payment_cancel(payment=payment, reason="abandoned")
    invoice.payment = payment
    if payment.status == Payment.Status.SUCCEEDED:
        invoice.amount_paid = invoice.amount_due
        invoice.save(update_fields=["attempt_count", "payment", "amount_paid"])
        _invoice_paid(invoice, sub, now=now)
        return
    retries_used = invoice.attempt_count - 1
    if retries_used < len(DUNNING_SCHEDULE):
        invoice.next_payment_attempt = now + DUNNING_SCHEDULE[retries_used]
        invoice.save(update_fields=["attempt_count", "payment", "next_payment_attempt"])
        _event(invoice, "invoice.payment_failed", invoice_data(invoice))
        if sub.status != Subscription.Status.PAST_DUE:
            sub.status = Subscription.Status.PAST_DUE
            _save(sub, "status")
            _event(sub, "subscription.updated", subscription_data(sub))
        return
    invoice.status = Invoice.Status.UNCOLLECTIBLE
    invoice.next_payment_attempt = None
    invoice.save(update_fields=["attempt_count", "payment", "status", "next_payment_attempt"])
    _event(invoice, "invoice.payment_failed", invoice_data(invoice))
    _cancel(sub, now=now)


def _invoice_paid(invoice: Invoice, sub: Subscription, *, now: datetime) -> None:
    invoice.status = Invoice.Status.PAID
    invoice.paid_at = now
    invoice.next_payment_attempt = None
    invoice.save(update_fields=["status", "paid_at", "next_payment_attempt"])
    _event(invoice, "invoice.paid", invoice_data(invoice))
    if sub.status == Subscription.Status.PAST_DUE and not sub.invoices.filter(status=Invoice.Status.OPEN).exists():
        sub.status = Subscription.Status.ACTIVE
        _save(sub, "status")
        _event(sub, "subscription.updated", subscription_data(sub))


def _cancel(sub: Subscription, *, now: datetime) -> None:
    sub.status = Subscription.Status.CANCELED
    sub.canceled_at = now
    sub.cancel_at_period_end = False
    _save(sub, "status", "canceled_at", "cancel_at_period_end")
    sub.invoices.filter(status=Invoice.Status.OPEN).update(status=Invoice.Status.VOID, next_payment_attempt=None)
    _event(sub, "subscription.canceled", subscription_data(sub))


def _check_card(card: CardToken) -> None:
    if card.behavior == testcards.PROCESSING_DELAY:
        raise ValidationError(
            {"card": ["Cards that settle later cannot pay subscriptions in the sandbox; use another test card."]}
        )


@transaction.atomic
def subscription_create(
    *,
    owner: Owner,
    customer: Customer,
    price: Price,
    card: CardToken,
    trial_period_days: int = 0,
    metadata: dict | None = None,
) -> Subscription:
    if not price.active:
        raise ValidationError({"price": ["This price is archived."]})
    _check_card(card)
    now = now_for(owner)
    trialing = trial_period_days > 0
    anchor = now + timedelta(days=trial_period_days) if trialing else now
    sub = Subscription.objects.create(
        organization_id=owner.organization_id,
        livemode=owner.livemode,
        customer=customer,
        price=price,
        card=card,
        status=Subscription.Status.TRIALING if trialing else Subscription.Status.ACTIVE,
        billing_cycle_anchor=anchor,
        current_period_start=now,
        current_period_end=anchor if trialing else period_boundary(anchor, price.interval, price.interval_count, 1),
        periods_billed=0 if trialing else 1,
        trial_end=anchor if trialing else None,
        metadata=metadata or {},
        created_at=now,
    )
    _event(sub, "subscription.created", subscription_data(sub))
    if not trialing:
        _invoice_create(
            sub,
            lines=[_line(_price_label(price), price.unit_amount, now, sub.current_period_end)],
            reason="subscription_create",
            start=now,
            end=sub.current_period_end,
            now=now,
        )
        sub.refresh_from_db()
    return sub


@transaction.atomic
def subscription_change_price(*, subscription: Subscription, price: Price) -> Subscription:
    """Upgrade or downgrade now, prorated to the second; an upgrade is invoiced at once."""
    sub = _lock(subscription)
    owner = Owner(organization_id=sub.organization_id, livemode=sub.livemode)
    if sub.status == Subscription.Status.CANCELED:
        raise services.state_error("A canceled subscription cannot change price.")
    if price.pk == sub.price_id:
        raise ValidationError({"price": ["The subscription is already on this price."]})
    if price.currency != sub.price.currency:
        raise ValidationError({"price": [f"The new price must also be in {sub.price.currency}."]})
    if (price.interval, price.interval_count) != (sub.price.interval, sub.price.interval_count):
        raise ValidationError({"price": ["The new price must bill on the same interval."]})
    if not price.active:
        raise ValidationError({"price": ["This price is archived."]})
    now = now_for(owner)
    old = sub.price
    sub.price = price
    _save(sub, "price")
    if sub.status != Subscription.Status.TRIALING:
        start, end = sub.current_period_start, sub.current_period_end
        credit = prorate(old.unit_amount, start=start, end=end, at=now)
        charge = prorate(price.unit_amount, start=start, end=end, at=now)
        lines = [
            _line(f"Unused time on {_price_label(old)}", -credit, now, end, proration=True),
            _line(f"Remaining time on {_price_label(price)}", charge, now, end, proration=True),
        ]
        if charge > credit:
            _invoice_create(sub, lines=lines, reason="subscription_update", start=now, end=end, now=now)
        elif credit > charge:
            sub.credit_balance += credit - charge
            _save(sub, "credit_balance")
    _event(sub, "subscription.updated", subscription_data(sub))
    sub.refresh_from_db()
    return sub


@transaction.atomic
def subscription_cancel(*, subscription: Subscription, at_period_end: bool) -> Subscription:
    sub = _lock(subscription)
    if sub.status == Subscription.Status.CANCELED:
        raise services.state_error("This subscription is already canceled.")
    now = now_for(Owner(organization_id=sub.organization_id, livemode=sub.livemode))
    if at_period_end:
        sub.cancel_at_period_end = True
        _save(sub, "cancel_at_period_end")
        _event(sub, "subscription.updated", subscription_data(sub))
    else:
        _cancel(sub, now=now)
    return sub


@transaction.atomic
def subscription_resume(*, subscription: Subscription) -> Subscription:
    """Undo a cancel-at-period-end before the period ends."""
    sub = _lock(subscription)
    if sub.status == Subscription.Status.CANCELED or not sub.cancel_at_period_end:
        raise services.state_error("Only a subscription set to cancel at period end can be resumed.")
    sub.cancel_at_period_end = False
    _save(sub, "cancel_at_period_end")
    _event(sub, "subscription.updated", subscription_data(sub))
    return sub


def _renew(sub: Subscription, *, now: datetime) -> None:
    """The period has ended: cancel if asked, else start the next period and invoice it."""
    if sub.cancel_at_period_end:
        _cancel(sub, now=sub.current_period_end)
        return
    price = sub.price
    if sub.status == Subscription.Status.TRIALING:
        sub.status = Subscription.Status.ACTIVE
        sub.trial_end = sub.current_period_end
    start = period_boundary(sub.billing_cycle_anchor, price.interval, price.interval_count, sub.periods_billed)
    end = period_boundary(sub.billing_cycle_anchor, price.interval, price.interval_count, sub.periods_billed + 1)
    sub.periods_billed += 1
    sub.current_period_start, sub.current_period_end = start, end
    _save(sub, "status", "trial_end", "periods_billed", "current_period_start", "current_period_end")
    _event(sub, "subscription.updated", subscription_data(sub))
    _invoice_create(
        sub,
        lines=[_line(_price_label(price), price.unit_amount, start, end)],
        reason="subscription_cycle",
        start=start,
        end=end,
        now=start,
    )


def billing_run(*, owner: Owner | None = None, now: datetime | None = None) -> int:
    """Renew every subscription whose period has ended and retry every invoice that is due.

    With `owner`, only that organisation and mode (the test clock calls this with its
    time); without, everything on real time except test-mode subscriptions of
    organisations that have a test clock. Each step locks its row and re-checks it, so
    two runs at once do the work once.
    """
    now = now or timezone.now()
    subs = Subscription.objects.exclude(status=Subscription.Status.CANCELED)
    invoices = Invoice.objects.filter(status=Invoice.Status.OPEN, next_payment_attempt__isnull=False)
    if owner is not None:
        scope = {"organization_id": owner.organization_id, "livemode": owner.livemode}
        subs, invoices = subs.filter(**scope), invoices.filter(**scope)
    else:
        clocked = TestClock.objects.values("organization_id")
        subs = subs.exclude(livemode=False, organization_id__in=clocked)
        invoices = invoices.exclude(livemode=False, organization_id__in=clocked)
    done = 0
    for _ in range(MAX_RENEWALS_PER_ADVANCE):
        # The earliest due event first, so retries and renewals interleave as they would in time.
        next_sub = subs.filter(current_period_end__lte=now).order_by("current_period_end").first()
        next_invoice = invoices.filter(next_payment_attempt__lte=now).order_by("next_payment_attempt").first()
        if next_sub is None and next_invoice is None:
            break
        if next_invoice is not None and (
            next_sub is None or next_invoice.next_payment_attempt <= next_sub.current_period_end
        ):
            with transaction.atomic():
                invoice = Invoice.objects.select_for_update().filter(pk=next_invoice.pk).first()
                if invoice is None or invoice.status != Invoice.Status.OPEN:
                    continue
                sub = _lock(invoice.subscription)
                _invoice_attempt(invoice, sub, now=invoice.next_payment_attempt)
        else:
            with transaction.atomic():
                sub = _lock(next_sub)
                if sub.status == Subscription.Status.CANCELED or sub.current_period_end > now:
                    continue
                _renew(sub, now=now)
        done += 1
    return done


@transaction.atomic
def invoice_pay(*, invoice: Invoice) -> Invoice:
    """Retry an open invoice now (e.g. after the customer fixed their card)."""
    invoice = Invoice.objects.select_for_update().select_related("subscription", "customer").get(pk=invoice.pk)
    if invoice.status != Invoice.Status.OPEN:
        raise services.state_error(f"Only an open invoice can be paid; this one is {invoice.status}.")
    sub = _lock(invoice.subscription)
    _invoice_attempt(invoice, sub, now=now_for(Owner(organization_id=sub.organization_id, livemode=sub.livemode)))
    invoice.refresh_from_db()
    return invoice


@transaction.atomic
def subscription_update_card(*, subscription: Subscription, card: CardToken) -> Subscription:
    _check_card(card)
    sub = _lock(subscription)
    sub.card = card
    _save(sub, "card")
    return sub
