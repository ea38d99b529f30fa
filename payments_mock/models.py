"""The sandbox's objects. Every row belongs to an organisation and is live or test.

Money is integer minor units with an ISO 4217 code (portal/lib/money.py). Public ids
carry a type prefix; the integer primary key never leaves the server. Card numbers
are never stored: a token keeps the brand, the last four digits, the expiry and the
test-card behaviour. Bank account numbers are stored only encrypted (AES-256-GCM).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from portal.lib.ids import new_public_id


def new_customer_id() -> str:
    return new_public_id("cus")


def new_token_id() -> str:
    return new_public_id("tok")


def new_payment_id() -> str:
    return new_public_id("pay")


def new_refund_id() -> str:
    return new_public_id("re")


def new_quote_id() -> str:
    return new_public_id("fxq")


def new_conversion_id() -> str:
    return new_public_id("fxc")


def new_bank_account_id() -> str:
    return new_public_id("ba")


def new_transaction_id() -> str:
    return new_public_id("txn")


def new_product_id() -> str:
    return new_public_id("prod")


def new_price_id() -> str:
    return new_public_id("price")


def new_subscription_id() -> str:
    return new_public_id("sub")


def new_invoice_id() -> str:
    return new_public_id("in")


class SandboxObject(models.Model):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    livemode = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class Customer(SandboxObject):
    public_id = models.CharField(max_length=32, unique=True, default=new_customer_id, editable=False)
    email = models.EmailField(blank=True)
    name = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "livemode", "-created_at"], name="pm_customer_org_created"),
            models.Index(fields=["organization", "livemode", "email"], name="pm_customer_org_email"),
        ]

    def __str__(self) -> str:
        return self.public_id


class CardToken(SandboxObject):
    """What remains of a card after tokenisation. The number itself is discarded."""

    public_id = models.CharField(max_length=32, unique=True, default=new_token_id, editable=False)
    brand = models.CharField(max_length=20)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    behavior = models.CharField(max_length=32, help_text="The test card's behaviour (payments_mock/testcards.py).")
    fingerprint = models.CharField(max_length=64, help_text="HMAC of the number: the same card, the same value.")

    def __str__(self) -> str:
        return self.public_id


class BankAccount(SandboxObject):
    class Status(models.TextChoices):
        NEW = "new"
        PENDING = "pending_verification"
        VERIFIED = "verified"
        FAILED = "verification_failed"

    class Kind(models.TextChoices):
        US = "us_ach", "US account (routing number)"
        IBAN = "iban", "IBAN"

    public_id = models.CharField(max_length=32, unique=True, default=new_bank_account_id, editable=False)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    country = models.CharField(max_length=2)
    currency = models.CharField(max_length=3)
    account_holder_name = models.CharField(max_length=200)
    routing_number = models.CharField(max_length=9, blank=True)
    bank_code = models.CharField(max_length=20, blank=True, help_text="From the IBAN's BBAN.")
    # AES-256-GCM token of the account number (or the whole IBAN), bound to the public id.
    account_number_encrypted = models.TextField()
    last4 = models.CharField(max_length=4)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.NEW)
    verification_method = models.CharField(max_length=20, blank=True)
    # Micro-deposit amounts (minor units), checked against what the caller reports.
    micro_deposits = models.JSONField(default=list, blank=True)
    verification_attempts = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "livemode", "-created_at"], name="pm_bank_org_created")]

    def __str__(self) -> str:
        return self.public_id


class Payment(SandboxObject):
    class Status(models.TextChoices):
        REQUIRES_CONFIRMATION = "requires_confirmation"
        REQUIRES_ACTION = "requires_action"
        PROCESSING = "processing"
        REQUIRES_CAPTURE = "requires_capture"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELED = "canceled"

    class CaptureMethod(models.TextChoices):
        AUTOMATIC = "automatic"
        MANUAL = "manual"

    public_id = models.CharField(max_length=32, unique=True, default=new_payment_id, editable=False)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    card = models.ForeignKey(CardToken, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    bank_account = models.ForeignKey(BankAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    amount_capturable = models.BigIntegerField(default=0)
    amount_captured = models.BigIntegerField(default=0)
    amount_refunded = models.BigIntegerField(default=0, help_text="Succeeded and pending refunds.")
    capture_method = models.CharField(max_length=10, choices=CaptureMethod.choices, default=CaptureMethod.AUTOMATIC)
    status = models.CharField(max_length=24, choices=Status.choices)
    description = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    risk_score = models.PositiveSmallIntegerField(default=0)
    risk_level = models.CharField(max_length=10, default="normal")
    risk_reason = models.CharField(max_length=200, blank=True)
    failure_code = models.CharField(max_length=40, blank=True)
    failure_message = models.CharField(max_length=200, blank=True)
    next_action = models.JSONField(null=True, blank=True)
    cancellation_reason = models.CharField(max_length=40, blank=True)
    # When a processing payment settles (the settlement task picks it up then).
    settle_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "livemode", "-created_at"], name="pm_payment_org_created"),
            models.Index(fields=["status", "settle_at"], name="pm_payment_settle"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="pm_payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_captured__lte=F("amount")), name="pm_payment_captured_within_amount"
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0) & Q(amount_refunded__lte=F("amount_captured")),
                name="pm_payment_refunded_within_captured",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class Refund(SandboxObject):
    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class Reason(models.TextChoices):
        REQUESTED_BY_CUSTOMER = "requested_by_customer"
        DUPLICATE = "duplicate"
        FRAUDULENT = "fraudulent"
        OTHER = "other"

    public_id = models.CharField(max_length=32, unique=True, default=new_refund_id, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="refunds")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=30, choices=Reason.choices, default=Reason.REQUESTED_BY_CUSTOMER)
    status = models.CharField(max_length=10, choices=Status.choices)
    failure_reason = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    settle_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "livemode", "-created_at"], name="pm_refund_org_created"),
            models.Index(fields=["status", "settle_at"], name="pm_refund_settle"),
        ]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="pm_refund_amount_positive")]

    def __str__(self) -> str:
        return self.public_id


class FxQuote(SandboxObject):
    """A rate locked for 60 seconds; a conversion that names it gets exactly this rate."""

    public_id = models.CharField(max_length=32, unique=True, default=new_quote_id, editable=False)
    source_currency = models.CharField(max_length=3)
    target_currency = models.CharField(max_length=3)
    source_amount = models.BigIntegerField()
    target_amount = models.BigIntegerField()
    rate = models.DecimalField(max_digits=24, decimal_places=12)
    mid_rate = models.DecimalField(max_digits=24, decimal_places=12)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.public_id


class FxConversion(SandboxObject):
    public_id = models.CharField(max_length=32, unique=True, default=new_conversion_id, editable=False)
    quote = models.OneToOneField(FxQuote, null=True, blank=True, on_delete=models.PROTECT, related_name="conversion")
    source_currency = models.CharField(max_length=3)
    target_currency = models.CharField(max_length=3)
    source_amount = models.BigIntegerField()
    target_amount = models.BigIntegerField()
    rate = models.DecimalField(max_digits=24, decimal_places=12)

    class Meta:
        indexes = [models.Index(fields=["organization", "livemode", "-created_at"], name="pm_fxc_org_created")]

    def __str__(self) -> str:
        return self.public_id


class Transaction(SandboxObject):
    """The ledger: one row per money movement, signed from the organisation's point of view."""

    class Kind(models.TextChoices):
        CHARGE = "charge"
        REFUND = "refund"
        FEE = "fee"
        FX_CONVERSION = "fx_conversion"
        PAYOUT = "payout"

    class Status(models.TextChoices):
        PENDING = "pending"
        POSTED = "posted"
        FAILED = "failed"

    public_id = models.CharField(max_length=32, unique=True, default=new_transaction_id, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.POSTED)
    amount = models.BigIntegerField(help_text="Signed: money in is positive, money out negative.")
    currency = models.CharField(max_length=3)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source_id = models.CharField(max_length=32, help_text="The public id of the object that moved the money.")
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "livemode", "-created_at"], name="pm_txn_org_created"),
            models.Index(fields=["organization", "livemode", "currency", "-created_at"], name="pm_txn_org_currency"),
            # sort=amount (both directions: PostgreSQL scans an index backwards as well)
            models.Index(fields=["organization", "livemode", "amount"], name="pm_txn_org_amount"),
            models.Index(fields=["source_id"], name="pm_txn_source"),
        ]

    def __str__(self) -> str:
        return self.public_id


# ---- subscriptions -------------------------------------------------------------------------


class TestClock(models.Model):
    """The organisation's sandbox time: test-mode billing runs at `frozen_time` once a clock exists."""

    organization = models.OneToOneField("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    frozen_time = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"clock {self.organization_id} at {self.frozen_time.isoformat()}"


class Product(SandboxObject):
    public_id = models.CharField(max_length=32, unique=True, default=new_product_id, editable=False)
    name = models.CharField(max_length=200)
    description = models.CharField(max_length=500, blank=True)
    active = models.BooleanField(default=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "livemode", "-created_at"], name="pm_product_org_created")]

    def __str__(self) -> str:
        return self.public_id


class Price(SandboxObject):
    class Interval(models.TextChoices):
        DAY = "day"
        WEEK = "week"
        MONTH = "month"
        YEAR = "year"

    public_id = models.CharField(max_length=32, unique=True, default=new_price_id, editable=False)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="prices")
    currency = models.CharField(max_length=3)
    unit_amount = models.BigIntegerField()
    interval = models.CharField(max_length=5, choices=Interval.choices)
    interval_count = models.PositiveSmallIntegerField(default=1)
    nickname = models.CharField(max_length=100, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "livemode", "-created_at"], name="pm_price_org_created")]
        constraints = [
            models.CheckConstraint(condition=Q(unit_amount__gte=0), name="pm_price_amount_not_negative"),
            models.CheckConstraint(condition=Q(interval_count__gte=1), name="pm_price_interval_count_positive"),
        ]

    def __str__(self) -> str:
        return self.public_id


class Subscription(SandboxObject):
    class Status(models.TextChoices):
        TRIALING = "trialing"
        ACTIVE = "active"
        PAST_DUE = "past_due"
        CANCELED = "canceled"

    public_id = models.CharField(max_length=32, unique=True, default=new_subscription_id, editable=False)
    # Deleting a customer cancels (customer_delete) and then removes their subscriptions.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    price = models.ForeignKey(Price, on_delete=models.PROTECT, related_name="+")
    card = models.ForeignKey(CardToken, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices)
    billing_cycle_anchor = models.DateTimeField()
    periods_billed = models.PositiveIntegerField(default=0, help_text="Periods since the anchor already started.")
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField()
    trial_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    credit_balance = models.BigIntegerField(default=0, help_text="Unused time credited by downgrades; minor units.")
    metadata = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "livemode", "-created_at"], name="pm_sub_org_created"),
            models.Index(fields=["status", "current_period_end"], name="pm_sub_due"),
        ]

    def __str__(self) -> str:
        return self.public_id


class Invoice(SandboxObject):
    class Status(models.TextChoices):
        OPEN = "open"
        PAID = "paid"
        UNCOLLECTIBLE = "uncollectible"
        VOID = "void"

    public_id = models.CharField(max_length=32, unique=True, default=new_invoice_id, editable=False)
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="invoices")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    subtotal = models.BigIntegerField()
    credit_applied = models.BigIntegerField(default=0)
    amount_due = models.BigIntegerField()
    amount_paid = models.BigIntegerField(default=0)
    status = models.CharField(max_length=14, choices=Status.choices, default=Status.OPEN)
    billing_reason = models.CharField(max_length=30)
    lines = models.JSONField(default=list)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    attempt_count = models.PositiveSmallIntegerField(default=0)
    next_payment_attempt = models.DateTimeField(null=True, blank=True)
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "livemode", "-created_at"], name="pm_invoice_org_created"),
            models.Index(fields=["status", "next_payment_attempt"], name="pm_invoice_retry"),
        ]
        constraints = [models.CheckConstraint(condition=Q(amount_due__gte=0), name="pm_invoice_due_not_negative")]

    def __str__(self) -> str:
        return self.public_id
