"""Every write of the sandbox APIs: customers, cards, payments, refunds, FX, bank accounts.

Each service runs in one transaction and records its webhook events inside it
(payments_mock/events.py). State changes on a payment or a bank account lock the row
first (`select_for_update`), so concurrent captures, refunds or verification attempts
see each other's effects: a payment can never be refunded past what was captured.
Field errors are Django `ValidationError`s with a dict (the views turn them into 400
problems); a request that does not fit the object's state is a 409 problem.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import random
import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from payments_mock import banking, events, fx, testcards
from payments_mock.models import (
    BankAccount,
    CardToken,
    Customer,
    FxConversion,
    FxQuote,
    Payment,
    Refund,
    Transaction,
    new_bank_account_id,
)
from payments_mock.selectors import Owner
from portal.crypto import keyring
from portal.lib import money
from portal.problems import ProblemException, register_problem_type

logger = logging.getLogger(__name__)

# How long the "processing delay" card and bank debits stay processing, and how long a
# refund on the refund-failure card stays pending, before the settlement task acts.
PROCESSING_DELAY = timedelta(seconds=5)
FEE_PER_MILLE = 29  # 2.9 % of a captured charge
MICRO_DEPOSIT_ATTEMPTS = 3

register_problem_type(
    "invalid-state",
    "The object is not in a state that allows this",
    "E.g. capturing a payment that is not `requires_capture`; `detail` names the current status.",
)
register_problem_type(
    "verification-failed",
    "The verification did not match",
    "The micro-deposit amounts were wrong; `attempts_remaining` says how many tries are left.",
)
register_problem_type("quote-expired", "The FX quote has expired", "A quote locks its rate for 60 seconds; ask again.")


INVALID_STATE_TITLE = "The object is not in a state that allows this"


def state_error(detail: str) -> ProblemException:
    return ProblemException(status_code=409, detail=detail, slug="invalid-state", title=INVALID_STATE_TITLE)


def _event(obj, type: str, data: dict[str, Any]) -> None:
    events.record(organization_id=obj.organization_id, livemode=obj.livemode, type=type, data=data)


def _ledger(
    obj, *, kind: str, amount: int, currency: str, source_id: str, customer=None, description: str = "", status="posted"
) -> Transaction:
    return Transaction.objects.create(
        organization_id=obj.organization_id,
        livemode=obj.livemode,
        kind=kind,
        status=status,
        amount=amount,
        currency=currency,
        source_id=source_id,
        customer=customer,
        description=description[:300],
    )


# ---- customers -----------------------------------------------------------------------------


def customer_data(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.public_id,
        "object": "customer",
        "email": customer.email,
        "name": customer.name,
        "description": customer.description,
        "metadata": customer.metadata,
        "livemode": customer.livemode,
        "created_at": customer.created_at.isoformat(),
    }


@transaction.atomic
def customer_create(
    *, owner: Owner, email: str = "", name: str = "", description: str = "", metadata: dict | None = None
) -> Customer:
    customer = Customer.objects.create(
        organization_id=owner.organization_id,
        livemode=owner.livemode,
        email=email,
        name=name,
        description=description,
        metadata=metadata or {},
    )
    _event(customer, "customer.created", customer_data(customer))
    return customer


@transaction.atomic
def customer_update(*, customer: Customer, **changes: Any) -> Customer:
    allowed = {"email", "name", "description", "metadata"}
    fields = [name for name in changes if name in allowed]
    if not fields:
        return customer
    previous = {name: getattr(customer, name) for name in fields}
    for name in fields:
        setattr(customer, name, changes[name])
    customer.updated_at = timezone.now()
    customer.save(update_fields=[*fields, "updated_at"])
    _event(customer, "customer.updated", customer_data(customer) | {"previous_attributes": previous})
    return customer


@transaction.atomic
def customer_delete(*, customer: Customer) -> None:
    """Delete a customer; their running subscriptions are canceled first (with their events).

    Payments and ledger rows keep the money history and lose only the link.
    """
    from payments_mock import billing
    from payments_mock.models import Subscription

    for subscription in Subscription.objects.filter(customer=customer).exclude(status=Subscription.Status.CANCELED):
        billing.subscription_cancel(subscription=subscription, at_period_end=False)
    data = customer_data(customer) | {"deleted": True}
    _event(customer, "customer.deleted", data)
    customer.delete()


# ---- cards ---------------------------------------------------------------------------------


def _card_fingerprint(number: str) -> str:
    key = hashlib.sha256(b"portal-card-fingerprint:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


def card_tokenize(*, owner: Owner, number: str, exp_month: int, exp_year: int, cvc: str) -> CardToken:
    """Check the card and keep only what may be kept. `number` and `cvc` go no further than here."""
    digits = banking.digits_only(number)
    errors: dict[str, list[str]] = {}
    if not (12 <= len(digits) <= 19) or not banking.luhn_valid(digits):
        errors["number"] = ["The card number is not valid (it fails the Luhn check)."]
    brand = banking.card_brand(digits) if "number" not in errors else None
    if "number" not in errors and brand is None:
        errors["number"] = ["The sandbox accepts Visa, Mastercard, American Express and Discover numbers."]
    if not 1 <= exp_month <= 12:
        errors["exp_month"] = ["The expiry month is 1 to 12."]
    today = timezone.now().date()
    if exp_year < 100:
        exp_year += 2000
    if exp_year > today.year + 20:
        errors["exp_year"] = ["The expiry year is too far in the future."]
    elif (exp_year, exp_month) < (today.year, today.month):
        errors["exp_year"] = ["The card has expired."]
    expected_cvc = 4 if brand == "amex" else 3
    if not (cvc.isascii() and cvc.isdigit() and len(cvc) == expected_cvc):
        errors["cvc"] = [f"The security code has {expected_cvc} digits."]
    if errors:
        raise ValidationError(errors)
    return CardToken.objects.create(
        organization_id=owner.organization_id,
        livemode=owner.livemode,
        brand=brand,
        last4=digits[-4:],
        exp_month=exp_month,
        exp_year=exp_year,
        behavior=testcards.behavior_for(digits),
        fingerprint=_card_fingerprint(digits),
    )


# ---- risk ----------------------------------------------------------------------------------


def risk_assess(*, amount: int, currency: str, behavior: str, fingerprint: str) -> tuple[int, str, str]:
    """A 0-100 score, a level and a reason; the same inputs always give the same answer.

    The score grows with the amount in US dollars (log scale) plus a stable per-card
    component; the fraud-block test card scores 95 and is blocked.
    """
    if behavior == testcards.FRAUD_BLOCK:
        return 95, "highest", "The card matches a known fraud pattern (fraud-block test card)."
    usd = float(money.to_major(amount, currency)) / fx.per_usd(currency, fx.fixing_instant(_RISK_DAY))
    card_part = int(hashlib.sha256(f"{fingerprint}:{currency}".encode()).hexdigest()[:4], 16) % 15
    amount_part = min(60, int(12 * math.log10(1 + usd)))
    score = min(89, 5 + card_part + amount_part)
    if score >= 65:
        return score, "elevated", f"An unusually large amount for a card payment (about {usd:,.0f} USD)."
    if amount_part > card_part:
        return score, "normal", "Amount within the usual range for card payments."
    return score, "normal", "No risk signals beyond the card's usual profile."


_RISK_DAY = datetime(2026, 1, 1).date()  # a fixed day, so the USD value (and the score) never drifts


# ---- payments ------------------------------------------------------------------------------


def payment_data(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.public_id,
        "object": "payment",
        "status": payment.status,
        "amount": payment.amount,
        "currency": payment.currency,
        "amount_captured": payment.amount_captured,
        "amount_refunded": payment.amount_refunded,
        "customer": payment.customer.public_id if payment.customer_id else None,
        "failure_code": payment.failure_code or None,
        "risk_score": payment.risk_score,
        "livemode": payment.livemode,
    }


def _lock(payment: Payment) -> Payment:
    return (
        Payment.objects.select_for_update(of=("self",))
        .select_related("customer", "card", "bank_account")
        .get(pk=payment.pk)
    )


def _save(payment: Payment, *fields: str) -> None:
    payment.updated_at = timezone.now()
    payment.save(update_fields=[*fields, "updated_at"])


def _fee(amount: int) -> int:
    return (amount * FEE_PER_MILLE + 500) // 1000


def _record_capture(payment: Payment, amount: int) -> None:
    describe = payment.description or f"Payment {payment.public_id}"
    _ledger(
        payment,
        kind=Transaction.Kind.CHARGE,
        amount=amount,
        currency=payment.currency,
        source_id=payment.public_id,
        customer=payment.customer,
        description=describe,
    )
    fee = _fee(amount)
    if fee:
        _ledger(
            payment,
            kind=Transaction.Kind.FEE,
            amount=-fee,
            currency=payment.currency,
            source_id=payment.public_id,
            customer=payment.customer,
            description=f"Processing fee for {payment.public_id}",
        )


def _succeed(payment: Payment) -> None:
    """The authorisation went through: hold the funds (manual capture) or capture them."""
    payment.next_action = None
    if payment.capture_method == Payment.CaptureMethod.MANUAL:
        payment.status = Payment.Status.REQUIRES_CAPTURE
        payment.amount_capturable = payment.amount
        _save(payment, "status", "amount_capturable", "next_action")
        return
    payment.status = Payment.Status.SUCCEEDED
    payment.amount_captured = payment.amount
    payment.amount_capturable = 0
    _save(payment, "status", "amount_captured", "amount_capturable", "next_action")
    _record_capture(payment, payment.amount)
    _event(payment, "payment.succeeded", payment_data(payment))


def _fail(payment: Payment, code: str, message: str) -> None:
    payment.status = Payment.Status.FAILED
    payment.failure_code = code
    payment.failure_message = message
    payment.next_action = None
    payment.amount_capturable = 0
    _save(payment, "status", "failure_code", "failure_message", "next_action", "amount_capturable")
    _event(payment, "payment.failed", payment_data(payment))


def _authorize(payment: Payment, three_d_secure: str | None) -> None:
    if payment.bank_account_id:
        # Bank debits always clear later, like ACH or SEPA.
        payment.status = Payment.Status.PROCESSING
        payment.settle_at = timezone.now() + PROCESSING_DELAY
        _save(payment, "status", "settle_at")
        return
    behavior = payment.card.behavior
    if behavior == testcards.FRAUD_BLOCK:
        card = testcards.CARDS_BY_BEHAVIOR[behavior]
        _fail(payment, card.failure_code, card.failure_message)
        return
    if behavior == testcards.THREE_D_SECURE:
        if payment.status == Payment.Status.REQUIRES_CONFIRMATION:
            payment.status = Payment.Status.REQUIRES_ACTION
            payment.next_action = {
                "type": "three_d_secure",
                "three_d_secure": {
                    "confirm_path": f"/api/v1/payments/{payment.public_id}/confirm",
                    "results": ["authenticated", "failed"],
                    "instructions": 'POST {"three_d_secure": "authenticated"} (or "failed") to the confirm path.',
                },
            }
            _save(payment, "status", "next_action")
            _event(payment, "payment.requires_action", payment_data(payment))
            return
        if three_d_secure != "authenticated":
            _fail(payment, "authentication_failed", "The cardholder failed 3-D Secure authentication.")
            return
    elif behavior in testcards.CARDS_BY_BEHAVIOR and testcards.CARDS_BY_BEHAVIOR[behavior].failure_code:
        card = testcards.CARDS_BY_BEHAVIOR[behavior]
        _fail(payment, card.failure_code, card.failure_message)
        return
    if behavior == testcards.PROCESSING_DELAY:
        payment.status = Payment.Status.PROCESSING
        payment.settle_at = timezone.now() + PROCESSING_DELAY
        _save(payment, "status", "settle_at")
        return
    _succeed(payment)


@transaction.atomic
def payment_create(
    *,
    owner: Owner,
    amount: int,
    currency: str,
    card: CardToken | None = None,
    bank_account: BankAccount | None = None,
    customer: Customer | None = None,
    capture_method: str = Payment.CaptureMethod.AUTOMATIC,
    confirm: bool = True,
    description: str = "",
    metadata: dict | None = None,
) -> Payment:
    if (card is None) == (bank_account is None):
        raise ValidationError({"payment_method": ["Give exactly one of card (a tok_ id) or bank_account (a ba_ id)."]})
    if bank_account is not None:
        if bank_account.status != BankAccount.Status.VERIFIED:
            raise ValidationError({"bank_account": ["The bank account must be verified before it is debited."]})
        if bank_account.currency != currency:
            raise ValidationError(
                {"currency": [f"This bank account is in {bank_account.currency}; debit it in that currency."]}
            )
    if card is not None:
        score, level, reason = risk_assess(
            amount=amount, currency=currency, behavior=card.behavior, fingerprint=card.fingerprint
        )
    else:
        score, level, reason = 10, "normal", "A verified bank account in the customer's name."
    payment = Payment.objects.create(
        organization_id=owner.organization_id,
        livemode=owner.livemode,
        amount=amount,
        currency=currency,
        card=card,
        bank_account=bank_account,
        customer=customer,
        capture_method=capture_method,
        status=Payment.Status.REQUIRES_CONFIRMATION,
        description=description,
        metadata=metadata or {},
        risk_score=score,
        risk_level=level,
        risk_reason=reason,
    )
    if confirm:
        _authorize(payment, None)
    return payment


@transaction.atomic
def payment_confirm(*, payment: Payment, three_d_secure: str | None = None) -> Payment:
    payment = _lock(payment)
    if payment.status == Payment.Status.REQUIRES_CONFIRMATION:
        _authorize(payment, None)
    elif payment.status == Payment.Status.REQUIRES_ACTION:
        if three_d_secure not in ("authenticated", "failed"):
            raise ValidationError(
                {"three_d_secure": ['This payment waits for 3-D Secure: give "authenticated" or "failed".']}
            )
        _authorize(payment, three_d_secure)
    else:
        raise state_error(f"A payment can be confirmed only before it is authorised; this one is {payment.status}.")
    return payment


@transaction.atomic
def payment_capture(*, payment: Payment, amount: int | None = None) -> Payment:
    payment = _lock(payment)
    if payment.status != Payment.Status.REQUIRES_CAPTURE:
        raise state_error(f"Only a payment in requires_capture can be captured; this one is {payment.status}.")
    amount = payment.amount_capturable if amount is None else amount
    if amount > payment.amount_capturable:
        raise ValidationError(
            {"amount": [f"At most {payment.amount_capturable} can be captured (the authorised amount)."]}
        )
    payment.status = Payment.Status.SUCCEEDED
    payment.amount_captured = amount
    payment.amount_capturable = 0
    _save(payment, "status", "amount_captured", "amount_capturable")
    _record_capture(payment, amount)
    _event(payment, "payment.succeeded", payment_data(payment))
    return payment


CANCELABLE = {Payment.Status.REQUIRES_CONFIRMATION, Payment.Status.REQUIRES_ACTION, Payment.Status.REQUIRES_CAPTURE}


@transaction.atomic
def payment_cancel(*, payment: Payment, reason: str = "requested_by_customer") -> Payment:
    payment = _lock(payment)
    if payment.status not in CANCELABLE:
        raise state_error(f"A payment can be canceled before it is captured or settled; this one is {payment.status}.")
    payment.status = Payment.Status.CANCELED
    payment.cancellation_reason = reason
    payment.amount_capturable = 0
    payment.next_action = None
    _save(payment, "status", "cancellation_reason", "amount_capturable", "next_action")
    _event(payment, "payment.canceled", payment_data(payment))
    return payment


# ---- refunds -------------------------------------------------------------------------------


def refund_data(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.public_id,
        "object": "refund",
        "payment": refund.payment.public_id,
        "amount": refund.amount,
        "currency": refund.currency,
        "status": refund.status,
        "reason": refund.reason,
        "failure_reason": refund.failure_reason or None,
        "livemode": refund.livemode,
    }


@transaction.atomic
def refund_create(
    *, payment: Payment, amount: int | None = None, reason: str = Refund.Reason.REQUESTED_BY_CUSTOMER, metadata=None
) -> Refund:
    """Refund part or all of what is left; the payment row is locked so refunds queue up."""
    payment = _lock(payment)
    if payment.status != Payment.Status.SUCCEEDED:
        raise state_error(f"Only a succeeded payment can be refunded; this one is {payment.status}.")
    remaining = payment.amount_captured - payment.amount_refunded
    if remaining <= 0:
        raise state_error("This payment has already been refunded in full.")
    amount = remaining if amount is None else amount
    if amount > remaining:
        raise ValidationError({"amount": [f"At most {remaining} {payment.currency} is left to refund."]})
    pending = payment.card_id is not None and payment.card.behavior == testcards.REFUND_FAILURE
    refund = Refund.objects.create(
        organization_id=payment.organization_id,
        livemode=payment.livemode,
        payment=payment,
        amount=amount,
        currency=payment.currency,
        reason=reason,
        metadata=metadata or {},
        status=Refund.Status.PENDING if pending else Refund.Status.SUCCEEDED,
        settle_at=timezone.now() + PROCESSING_DELAY if pending else None,
    )
    payment.amount_refunded += amount
    _save(payment, "amount_refunded")
    _ledger(
        refund,
        kind=Transaction.Kind.REFUND,
        amount=-amount,
        currency=refund.currency,
        source_id=refund.public_id,
        customer=payment.customer,
        description=f"Refund of {payment.public_id}",
        status=Transaction.Status.PENDING if pending else Transaction.Status.POSTED,
    )
    if not pending:
        _event(refund, "refund.succeeded", refund_data(refund))
    return refund


def _settle_refund(refund: Refund) -> None:
    payment = _lock(refund.payment)
    refund.payment = payment
    # Only the refund-failure card leaves refunds pending: the issuer refuses them.
    refund.status = Refund.Status.FAILED
    refund.failure_reason = "The card issuer refused the refund (refund-failure test card)."
    refund.updated_at = timezone.now()
    refund.save(update_fields=["status", "failure_reason", "updated_at"])
    payment.amount_refunded -= refund.amount
    _save(payment, "amount_refunded")
    Transaction.objects.filter(source_id=refund.public_id).update(status=Transaction.Status.FAILED)
    _event(refund, "refund.failed", refund_data(refund))


# ---- settlement (the Celery beat task calls this) ------------------------------------------


def settle_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Settle processing payments and pending refunds whose time has come; returns how many.

    Rows are claimed with SKIP LOCKED so two workers never settle the same one, and the
    status filter makes a second run over an already settled row a no-op.
    """
    now = now or timezone.now()
    settled = 0
    with transaction.atomic():
        due = list(
            Payment.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("customer", "card", "bank_account")
            .filter(status=Payment.Status.PROCESSING, settle_at__lte=now)
            .order_by("settle_at")[:limit]
        )
        for payment in due:
            payment.settle_at = None
            payment.save(update_fields=["settle_at"])
            _succeed(payment)
            settled += 1
    with transaction.atomic():
        refunds = list(
            Refund.objects.select_for_update(skip_locked=True)
            .filter(status=Refund.Status.PENDING, settle_at__lte=now)
            .order_by("settle_at")[:limit]
        )
        for refund in refunds:
            _settle_refund(refund)
            settled += 1
    return settled


# ---- FX ------------------------------------------------------------------------------------


def fx_currency(code: str, field: str) -> str:
    try:
        code = money.normalize_currency(code)
    except money.MoneyError as exc:
        raise ValidationError({field: [str(exc)]}) from None
    if code not in fx.MARKET:
        raise ValidationError({field: [f"{code} is not quoted by the sandbox FX desk."]})
    return code


def fx_price(*, source: str, target: str, amount: int, at: datetime) -> tuple[fx.Rate, int]:
    """The dealing rate (the bid: the customer sells `source`) and what `amount` becomes."""
    rate = fx.rate(source, target, at)
    converted = money.convert(amount, source=source, target=target, rate=rate.bid)
    if converted > money.MAX_AMOUNT:
        raise ValidationError({"amount": ["The converted amount is too large."]})
    return rate, converted


@transaction.atomic
def fx_quote_create(*, owner: Owner, source: str, target: str, amount: int) -> FxQuote:
    now = timezone.now()
    rate, converted = fx_price(source=source, target=target, amount=amount, at=now)
    return FxQuote.objects.create(
        organization_id=owner.organization_id,
        livemode=owner.livemode,
        source_currency=source,
        target_currency=target,
        source_amount=amount,
        target_amount=converted,
        rate=rate.bid,
        mid_rate=rate.mid,
        created_at=now,
        expires_at=now + fx.QUOTE_TTL,
    )


@transaction.atomic
def fx_conversion_create(*, quote: FxQuote) -> FxConversion:
    """Book a conversion at the quote's locked rate; a quote converts once, within 60 s."""
    quote = FxQuote.objects.select_for_update().get(pk=quote.pk)
    if quote.used_at is not None:
        raise state_error("This quote has already been used for a conversion.")
    if quote.expires_at <= timezone.now():
        raise ProblemException(
            status_code=409,
            detail=f"The quote expired at {quote.expires_at.isoformat()}; create a new quote.",
            slug="quote-expired",
            title="The FX quote has expired",
        )
    quote.used_at = timezone.now()
    quote.save(update_fields=["used_at"])
    conversion = FxConversion.objects.create(
        organization_id=quote.organization_id,
        livemode=quote.livemode,
        quote=quote,
        source_currency=quote.source_currency,
        target_currency=quote.target_currency,
        source_amount=quote.source_amount,
        target_amount=quote.target_amount,
        rate=quote.rate,
    )
    text = f"FX {quote.source_currency}->{quote.target_currency} at {quote.rate.normalize()}"
    _ledger(
        conversion,
        kind=Transaction.Kind.FX_CONVERSION,
        amount=-quote.source_amount,
        currency=quote.source_currency,
        source_id=conversion.public_id,
        description=text,
    )
    _ledger(
        conversion,
        kind=Transaction.Kind.FX_CONVERSION,
        amount=quote.target_amount,
        currency=quote.target_currency,
        source_id=conversion.public_id,
        description=text,
    )
    return conversion


# ---- bank accounts -------------------------------------------------------------------------


def bank_account_number(account: BankAccount) -> str:
    """The plain account number (or IBAN); for the few places that must see it."""
    return keyring().decrypt(account.account_number_encrypted, associated_data=account.public_id.encode())


def bank_account_data(account: BankAccount) -> dict[str, Any]:
    return {
        "id": account.public_id,
        "object": "bank_account",
        "status": account.status,
        "country": account.country,
        "currency": account.currency,
        "last4": account.last4,
        "livemode": account.livemode,
    }


@transaction.atomic
def bank_account_create(
    *,
    owner: Owner,
    account_holder_name: str,
    customer: Customer | None = None,
    iban: str = "",
    routing_number: str = "",
    account_number: str = "",
) -> BankAccount:
    errors: dict[str, list[str]] = {}
    if iban and (routing_number or account_number):
        errors["iban"] = ["Give an IBAN, or a US routing number and account number, not both."]
    elif iban:
        iban = banking.iban_normalize(iban)
        problem = banking.iban_problem(iban)
        if problem:
            errors["iban"] = [problem]
    elif routing_number or account_number:
        if not banking.aba_valid(routing_number):
            errors["routing_number"] = ["A US routing number has 9 digits and a valid ABA checksum."]
        account_number = banking.digits_only(account_number)
        if not (account_number.isascii() and account_number.isdigit() and 4 <= len(account_number) <= 17):
            errors["account_number"] = ["A US account number has 4 to 17 digits."]
    else:
        errors["iban"] = ["Give an IBAN, or a US routing number and account number."]
    if errors:
        raise ValidationError(errors)
    public_id = new_bank_account_id()
    if iban:
        kind, country, currency = BankAccount.Kind.IBAN, iban[:2], banking.IBAN_COUNTRIES[iban[:2]][1]
        secret, bank_code = iban, iban[4:8]
    else:
        kind, country, currency = BankAccount.Kind.US, "US", "USD"
        secret, bank_code = account_number, ""
    account = BankAccount(
        public_id=public_id,
        organization_id=owner.organization_id,
        livemode=owner.livemode,
        customer=customer,
        kind=kind,
        country=country,
        currency=currency,
        account_holder_name=account_holder_name,
        routing_number=routing_number,
        bank_code=bank_code,
        account_number_encrypted=keyring().encrypt(secret, associated_data=public_id.encode()),
        last4=secret[-4:],
    )
    if not owner.livemode and routing_number in testcards.INSTANT_ROUTING_NUMBERS:
        account.status = BankAccount.Status.VERIFIED
        account.verification_method = "instant"
        account.verified_at = timezone.now()
        account.save()
        _event(account, "bank_account.verified", bank_account_data(account))
        return account
    account.status = BankAccount.Status.PENDING
    account.verification_method = "micro_deposits"
    if owner.livemode:
        first = secrets.randbelow(99) + 1
        second = (first + secrets.randbelow(98)) % 99 + 1  # never equal to the first
        account.micro_deposits = [first, second]
    else:
        account.micro_deposits = list(testcards.TEST_MICRO_DEPOSITS)
    account.save()
    return account


@transaction.atomic
def bank_account_verify(*, account: BankAccount, amounts: list[int]) -> tuple[BankAccount, bool]:
    """Check the two micro-deposit amounts; the third wrong answer locks the account.

    Returns the account and whether the amounts matched. A wrong answer is committed
    (the attempt counts) before the caller reports the failure.
    """
    account = BankAccount.objects.select_for_update().get(pk=account.pk)
    if account.status == BankAccount.Status.FAILED:
        raise state_error("Verification failed three times; this bank account is locked. Add it again.")
    if account.status != BankAccount.Status.PENDING:
        raise state_error(f"This bank account is {account.status}; there is nothing to verify.")
    account.verification_attempts += 1
    matched = sorted(amounts) == sorted(account.micro_deposits)
    if matched:
        account.status = BankAccount.Status.VERIFIED
        account.verified_at = timezone.now()
        account.save(update_fields=["status", "verified_at", "verification_attempts"])
        _event(account, "bank_account.verified", bank_account_data(account))
    else:
        if account.verification_attempts >= MICRO_DEPOSIT_ATTEMPTS:
            account.status = BankAccount.Status.FAILED
        account.save(update_fields=["status", "verification_attempts"])
    return account, matched


def bank_accounts_reencrypt(*, batch: int = 500) -> int:
    """After a key rotation (a new key first in FIELD_ENCRYPTION_KEYS), re-seal old tokens."""
    ring = keyring()
    changed = 0
    last_pk = 0
    while True:
        rows = list(BankAccount.objects.filter(pk__gt=last_pk).order_by("pk")[:batch])
        if not rows:
            return changed
        for account in rows:
            last_pk = account.pk
            if not ring.needs_rotation(account.account_number_encrypted):
                continue
            aad = account.public_id.encode()
            plain = ring.decrypt(account.account_number_encrypted, associated_data=aad)
            account.account_number_encrypted = ring.encrypt(plain, associated_data=aad)
            account.save(update_fields=["account_number_encrypted"])
            changed += 1


def mask(last4: str) -> str:
    return "••••" + last4


def decimal_str(value: Decimal) -> str:
    return format(value.normalize(), "f")


# ---- the sandbox: reset and sample data ----------------------------------------------------

SAMPLE_NAMES = (
    ("Ada Lovelace", "ada@example.com"),
    ("Grace Hopper", "grace@example.com"),
    ("Alan Turing", "alan@example.com"),
    ("Zoë Ångström", "zoe@example.com"),
    ("José Martínez", "jose@example.com"),
    ("Mei Chen", "mei@example.com"),
    ("Olu Adeyemi", "olu@example.com"),
    ("Priya Natarajan", "priya@example.com"),
    ("Sven Müller", "sven@example.com"),
    ("Yuki Tanaka", "yuki@example.com"),
    ("Fatima Zahra", "fatima@example.com"),
    ("Liam O'Brien", "liam@example.com"),
)
SAMPLE_CARDS = ("4242424242424242", "5555555555554444", "4000000000000002", "4000000000009995", "378282246310005")
SAMPLE_CURRENCIES = (("USD", 1000, 25000), ("EUR", 1000, 20000), ("GBP", 800, 15000), ("JPY", 1000, 30000))


@transaction.atomic
def sandbox_reset(*, organization_id: int) -> dict[str, int]:
    """Delete every test-mode sandbox object of the organisation; keys and live objects stay."""
    from payments_mock.models import Invoice, Price, Product, Subscription, TestClock

    owner_filter = {"organization_id": organization_id, "livemode": False}
    counts = {}
    # Children before the rows they protect (a subscription protects its customer and card).
    for label, model in (
        ("transactions", Transaction),
        ("refunds", Refund),
        ("fx_conversions", FxConversion),
        ("invoices", Invoice),
        ("subscriptions", Subscription),
        ("payments", Payment),
        ("prices", Price),
        ("products", Product),
        ("fx_quotes", FxQuote),
        ("bank_accounts", BankAccount),
        ("card_tokens", CardToken),
        ("customers", Customer),
    ):
        counts[label] = model.objects.filter(**owner_filter).delete()[1].get(model._meta.label, 0)
    TestClock.objects.filter(organization_id=organization_id).delete()
    return counts


@transaction.atomic
def sandbox_generate(*, organization_id: int, customers: int = 8, months: int = 3, seed: int = 1) -> dict[str, int]:
    """Realistic test-mode data through the real services: customers, months of payments, refunds.

    The same seed gives the same story. Objects are backdated across the period after
    they are created, so lists, the ledger and reports have history to show.
    """
    rng = random.Random(seed)  # sample data, not secrets
    owner = Owner(organization_id=organization_id, livemode=False)
    now = timezone.now()
    made = {"customers": 0, "payments": 0, "refunds": 0}
    people = []
    for index in range(customers):
        name, email = SAMPLE_NAMES[index % len(SAMPLE_NAMES)]
        if index >= len(SAMPLE_NAMES):
            email = email.replace("@", f"+{index}@")
        people.append(customer_create(owner=owner, name=name, email=email, metadata={"source": "sample data"}))
        made["customers"] += 1
    for customer in people:
        for _ in range(rng.randint(2, 2 + 3 * months)):
            currency, low, high = rng.choice(SAMPLE_CURRENCIES)
            number = rng.choice(SAMPLE_CARDS)
            token = card_tokenize(
                owner=owner,
                number=number,
                exp_month=rng.randint(1, 12),
                exp_year=now.year + 3,
                cvc="1234" if number.startswith("3") else "123",
            )
            payment = payment_create(
                owner=owner,
                amount=rng.randint(low, high),
                currency=currency,
                card=token,
                customer=customer,
                description=rng.choice(("Monthly plan", "Order", "Add-on", "Top-up")),
            )
            made["payments"] += 1
            refund = None
            if payment.status == Payment.Status.SUCCEEDED and rng.random() < 0.12:
                partial = rng.random() < 0.5
                refund = refund_create(payment=payment, amount=payment.amount // 2 if partial else None)
                made["refunds"] += 1
            when = now - timedelta(seconds=rng.randint(60, months * 30 * 86_400))
            Payment.objects.filter(pk=payment.pk).update(created_at=when, updated_at=when)
            Transaction.objects.filter(source_id=payment.public_id).update(created_at=when)
            if refund is not None:
                later = min(now, when + timedelta(days=rng.randint(1, 10)))
                Refund.objects.filter(pk=refund.pk).update(created_at=later, updated_at=later)
                Transaction.objects.filter(source_id=refund.public_id).update(created_at=later)
        first_seen = Payment.objects.filter(customer=customer).order_by("created_at").first()
        if first_seen is not None:
            Customer.objects.filter(pk=customer.pk).update(created_at=first_seen.created_at)
    made["subscriptions"] = _sample_subscriptions(owner, people, rng)
    return made


def _sample_subscriptions(owner: Owner, people: list[Customer], rng) -> int:
    from payments_mock import billing

    product = billing.product_create(owner=owner, name="Pro plan", description="Sample data")
    monthly = billing.price_create(product=product, currency="USD", unit_amount=2900, interval="month")
    yearly = billing.price_create(product=product, currency="USD", unit_amount=29000, interval="year")
    count = 0
    for customer in people[::2]:
        token = card_tokenize(
            owner=owner, number="4242424242424242", exp_month=12, exp_year=timezone.now().year + 4, cvc="123"
        )
        billing.subscription_create(
            owner=owner,
            customer=customer,
            price=rng.choice((monthly, monthly, yearly)),
            card=token,
            trial_period_days=rng.choice((0, 0, 14)),
        )
        count += 1
    return count
