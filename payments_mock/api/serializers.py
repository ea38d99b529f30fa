"""Input and output shapes of the sandbox APIs.

Amounts are integers in minor units (`AmountField`), currencies ISO 4217 codes
(`CurrencyField`), metadata a small flat map of strings (`MetadataField`). Every
validation failure leaves as a 400 problem with per-field `errors`.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from payments_mock import fx, services
from payments_mock.models import BankAccount, Payment, Refund
from payments_mock.reports import MAX_RANGE_DAYS
from portal.lib import money

METADATA_MAX_KEYS = 50
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500
METADATA_MAX_BYTES = 8192


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": money.MAX_AMOUNT, "example": 1050})
class AmountField(serializers.Field):
    """A positive integer in the currency's minor units (1050 USD = $10.50, 1050 JPY = ¥1,050)."""

    def __init__(self, *, allow_zero: bool = False, **kwargs):
        self.allow_zero = allow_zero
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return money.parse_amount(data, allow_zero=self.allow_zero)
        except money.MoneyError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def to_representation(self, value):
        return value


# Answers carry lower-case codes; requests may use either case.
@extend_schema_field({"type": "string", "enum": sorted(c.lower() for c in money.CURRENCIES), "example": "usd"})
class CurrencyField(serializers.Field):
    def to_internal_value(self, data):
        try:
            return money.normalize_currency(data)
        except money.MoneyError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def to_representation(self, value):
        return value.lower()


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "string", "maxLength": METADATA_VALUE_MAX},
        "maxProperties": METADATA_MAX_KEYS,
        "example": {"order_id": "6735", "note": "Grüße ✓"},
    }
)
class MetadataField(serializers.Field):
    """Up to 50 keys of at most 40 characters, string values of at most 500; any Unicode."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("Metadata is an object of string keys and string values.")
        if len(data) > METADATA_MAX_KEYS:
            raise serializers.ValidationError(f"Metadata can have at most {METADATA_MAX_KEYS} keys.")
        for key, value in data.items():
            if not key or len(key) > METADATA_KEY_MAX:
                raise serializers.ValidationError(f"Metadata keys have 1 to {METADATA_KEY_MAX} characters.")
            if not isinstance(value, str):
                raise serializers.ValidationError(f"The metadata value of {key!r} must be a string.")
            if len(value) > METADATA_VALUE_MAX:
                raise serializers.ValidationError(
                    f"The metadata value of {key!r} is longer than {METADATA_VALUE_MAX} characters."
                )
            if "\x00" in key or "\x00" in value:
                raise serializers.ValidationError("Metadata cannot contain NUL characters.")
        if len(json.dumps(data, ensure_ascii=False).encode()) > METADATA_MAX_BYTES:
            raise serializers.ValidationError(f"Metadata can be at most {METADATA_MAX_BYTES} bytes of JSON.")
        return data

    def to_representation(self, value):
        return value


class NoNulCharField(serializers.CharField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if "\x00" in value:
            raise serializers.ValidationError("Text cannot contain NUL characters.")
        return value


# ---- customers -----------------------------------------------------------------------------


class CustomerOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    email = serializers.CharField()  # may be blank, so not format: email
    name = serializers.CharField()
    description = serializers.CharField()
    metadata = MetadataField()
    livemode = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_object(self, obj) -> str:
        return "customer"


class CustomerCreateInput(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    name = NoNulCharField(max_length=200, required=False, allow_blank=True, default="")
    description = NoNulCharField(max_length=500, required=False, allow_blank=True, default="")
    metadata = MetadataField(required=False, default=dict)


class CustomerUpdateInput(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True)
    name = NoNulCharField(max_length=200, required=False, allow_blank=True)
    description = NoNulCharField(max_length=500, required=False, allow_blank=True)
    metadata = MetadataField(required=False)


class DeletedOutput(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    deleted = serializers.BooleanField()


# ---- cards ---------------------------------------------------------------------------------


class CardTokenInput(serializers.Serializer):
    number = serializers.CharField(max_length=30, help_text="The card number; checked with Luhn, never stored.")
    exp_month = serializers.IntegerField(min_value=1, max_value=12)
    exp_year = serializers.IntegerField(min_value=0, max_value=9999)
    cvc = serializers.CharField(max_length=4, min_length=3)


class CardTokenOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    brand = serializers.CharField()
    last4 = serializers.CharField()
    exp_month = serializers.IntegerField()
    exp_year = serializers.IntegerField()
    fingerprint = serializers.SerializerMethodField(help_text="The same card gives the same fingerprint.")
    livemode = serializers.BooleanField()
    created_at = serializers.DateTimeField()

    def get_object(self, obj) -> str:
        return "token"

    def get_fingerprint(self, obj) -> str:
        return obj.fingerprint[:16]


# ---- payments ------------------------------------------------------------------------------


class RiskOutput(serializers.Serializer):
    score = serializers.IntegerField(source="risk_score", help_text="0 (safe) to 100.")
    level = serializers.CharField(source="risk_level")
    reason = serializers.CharField(source="risk_reason")


class CardSummary(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    brand = serializers.CharField()
    last4 = serializers.CharField()
    exp_month = serializers.IntegerField()
    exp_year = serializers.IntegerField()


class PaymentOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=Payment.Status.choices)
    amount = AmountField()
    currency = CurrencyField()
    amount_capturable = serializers.IntegerField()
    amount_captured = serializers.IntegerField()
    amount_refunded = serializers.IntegerField()
    capture_method = serializers.ChoiceField(choices=Payment.CaptureMethod.choices)
    customer = serializers.CharField(source="customer.public_id", allow_null=True, default=None)
    card = CardSummary(allow_null=True)
    bank_account = serializers.CharField(source="bank_account.public_id", allow_null=True, default=None)
    description = serializers.CharField()
    metadata = MetadataField()
    risk = serializers.SerializerMethodField()
    failure_code = serializers.CharField(allow_null=True)
    failure_message = serializers.CharField(allow_null=True)
    next_action = serializers.JSONField(allow_null=True)
    cancellation_reason = serializers.CharField(allow_null=True)
    livemode = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_object(self, obj) -> str:
        return "payment"

    @extend_schema_field(RiskOutput)
    def get_risk(self, obj) -> dict:
        return RiskOutput(obj).data

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for name in ("failure_code", "failure_message", "cancellation_reason"):
            data[name] = data[name] or None
        return data


class PaymentCreateInput(serializers.Serializer):
    amount = AmountField()
    currency = CurrencyField()
    card = serializers.CharField(required=False, max_length=32, help_text="A tok_ id from POST /api/v1/tokens.")
    bank_account = serializers.CharField(required=False, max_length=32, help_text="A verified ba_ id.")
    customer = serializers.CharField(required=False, max_length=32, help_text="A cus_ id.")
    capture_method = serializers.ChoiceField(choices=Payment.CaptureMethod.choices, default="automatic")
    confirm = serializers.BooleanField(default=True, help_text="false leaves the payment in requires_confirmation.")
    description = NoNulCharField(max_length=500, required=False, allow_blank=True, default="")
    metadata = MetadataField(required=False, default=dict)

    def validate(self, attrs):
        if ("card" in attrs) == ("bank_account" in attrs):
            raise serializers.ValidationError({"card": ["Give exactly one of card or bank_account."]})
        return attrs


class PaymentConfirmInput(serializers.Serializer):
    three_d_secure = serializers.ChoiceField(
        choices=["authenticated", "failed"],
        required=False,
        help_text="The simulated 3-D Secure result, for a payment in requires_action.",
    )


class PaymentCaptureInput(serializers.Serializer):
    amount = AmountField(required=False, help_text="Defaults to the whole authorised amount.")


CANCELLATION_REASONS = ["requested_by_customer", "duplicate", "fraudulent", "abandoned"]


class PaymentCancelInput(serializers.Serializer):
    reason = serializers.ChoiceField(choices=CANCELLATION_REASONS, default="requested_by_customer")


# ---- refunds -------------------------------------------------------------------------------


class RefundOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    payment = serializers.CharField(source="payment.public_id")
    amount = AmountField()
    currency = CurrencyField()
    status = serializers.ChoiceField(choices=Refund.Status.choices)
    reason = serializers.ChoiceField(choices=Refund.Reason.choices)
    failure_reason = serializers.CharField(allow_null=True)
    metadata = MetadataField()
    livemode = serializers.BooleanField()
    created_at = serializers.DateTimeField()

    def get_object(self, obj) -> str:
        return "refund"

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["failure_reason"] = data["failure_reason"] or None
        return data


class RefundCreateInput(serializers.Serializer):
    payment = serializers.CharField(max_length=32, help_text="The pay_ id to refund.")
    amount = AmountField(required=False, help_text="Defaults to everything not yet refunded.")
    reason = serializers.ChoiceField(choices=Refund.Reason.choices, default=Refund.Reason.REQUESTED_BY_CUSTOMER)
    metadata = MetadataField(required=False, default=dict)


# ---- FX ------------------------------------------------------------------------------------


def _fx_code(value: str, field: str) -> str:
    try:
        return services.fx_currency(value, field)
    except Exception as exc:  # a Django ValidationError with the field's message
        raise serializers.ValidationError(exc.message_dict[field]) from None


class FxRatesQuery(serializers.Serializer):
    base = serializers.CharField(required=False, default="USD")
    date = serializers.DateField(required=False, help_text="YYYY-MM-DD: the 16:00 UTC fixing of that day.")

    def validate_base(self, value):
        return _fx_code(value, "base")

    def validate_date(self, value):
        if value < fx.EARLIEST_HISTORY:
            raise serializers.ValidationError(f"History starts on {fx.EARLIEST_HISTORY.isoformat()}.")
        return value


class FxConvertQuery(serializers.Serializer):
    source = serializers.CharField(help_text="The currency you sell.")
    target = serializers.CharField(help_text="The currency you buy.")
    amount = AmountField(help_text="In minor units of the source currency.")

    def validate_source(self, value):
        return _fx_code(value, "source")

    def validate_target(self, value):
        return _fx_code(value, "target")


class FxRateOutput(serializers.Serializer):
    currency = serializers.CharField()
    mid = serializers.CharField()
    bid = serializers.CharField()
    ask = serializers.CharField()
    spread_bps = serializers.IntegerField()


class FxRatesOutput(serializers.Serializer):
    object = serializers.CharField()
    base = serializers.CharField()
    as_of = serializers.DateTimeField()
    seed = serializers.CharField()
    rates = FxRateOutput(many=True)


class FxConvertOutput(serializers.Serializer):
    object = serializers.CharField()
    source = serializers.CharField()
    target = serializers.CharField()
    source_amount = serializers.IntegerField()
    target_amount = serializers.IntegerField()
    rate = serializers.CharField(help_text="Target units per source unit, the bid.")
    mid_rate = serializers.CharField()
    as_of = serializers.DateTimeField()


class FxQuoteOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    source = serializers.CharField(source="source_currency")
    target = serializers.CharField(source="target_currency")
    source_amount = serializers.IntegerField()
    target_amount = serializers.IntegerField()
    rate = serializers.SerializerMethodField()
    mid_rate = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField()
    used = serializers.SerializerMethodField()
    livemode = serializers.BooleanField()
    created_at = serializers.DateTimeField()

    def get_object(self, obj) -> str:
        return "fx_quote"

    def get_rate(self, obj) -> str:
        return services.decimal_str(obj.rate)

    def get_mid_rate(self, obj) -> str:
        return services.decimal_str(obj.mid_rate)

    def get_used(self, obj) -> bool:
        return obj.used_at is not None


class FxConversionInput(serializers.Serializer):
    quote = serializers.CharField(max_length=32, help_text="An fxq_ id created less than 60 seconds ago.")


class FxConversionOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    quote = serializers.CharField(source="quote.public_id")
    source = serializers.CharField(source="source_currency")
    target = serializers.CharField(source="target_currency")
    source_amount = serializers.IntegerField()
    target_amount = serializers.IntegerField()
    rate = serializers.SerializerMethodField()
    livemode = serializers.BooleanField()
    created_at = serializers.DateTimeField()

    def get_object(self, obj) -> str:
        return "fx_conversion"

    def get_rate(self, obj) -> str:
        return services.decimal_str(obj.rate)


class FxQuoteInput(FxConvertQuery):
    pass


# ---- credit --------------------------------------------------------------------------------


class CreditScoreInput(serializers.Serializer):
    currency = CurrencyField(default="USD")
    annual_income = AmountField(allow_zero=True)
    monthly_debt_payments = AmountField(allow_zero=True, default=0)
    requested_amount = AmountField(allow_zero=True, default=0)
    credit_history_months = serializers.IntegerField(min_value=0, max_value=1200)
    open_accounts = serializers.IntegerField(min_value=0, max_value=200)
    credit_utilization = serializers.IntegerField(min_value=0, max_value=100, help_text="Percent.")
    delinquencies_24m = serializers.IntegerField(min_value=0, max_value=100, default=0)
    inquiries_6m = serializers.IntegerField(min_value=0, max_value=100, default=0)
    employment_months = serializers.IntegerField(min_value=0, max_value=1200, default=0)


class FactorOutput(serializers.Serializer):
    code = serializers.CharField()
    impact = serializers.IntegerField(help_text="Points (bureau) or hundredths of log-odds (internal); + helps.")
    description = serializers.CharField()


class BureauOutput(serializers.Serializer):
    model = serializers.CharField()
    score = serializers.IntegerField(min_value=300, max_value=850)
    range = serializers.ListField(child=serializers.IntegerField())
    factors = FactorOutput(many=True)


class InternalOutput(serializers.Serializer):
    model = serializers.CharField()
    grade = serializers.ChoiceField(choices=["A", "B", "C", "D", "E"])
    probability_of_default = serializers.FloatField()
    factors = FactorOutput(many=True)


class CreditScoreOutput(serializers.Serializer):
    object = serializers.CharField()
    bureau = BureauOutput()
    internal = InternalOutput()
    decision = serializers.ChoiceField(choices=["approve", "review", "decline"])


# ---- bank accounts -------------------------------------------------------------------------


class BankAccountInput(serializers.Serializer):
    account_holder_name = NoNulCharField(max_length=200)
    customer = serializers.CharField(required=False, max_length=32)
    iban = serializers.CharField(required=False, max_length=50, allow_blank=True, default="")
    routing_number = serializers.CharField(required=False, max_length=12, allow_blank=True, default="")
    account_number = serializers.CharField(required=False, max_length=24, allow_blank=True, default="")


class BankAccountOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=BankAccount.Status.choices)
    kind = serializers.ChoiceField(choices=BankAccount.Kind.choices)
    country = serializers.CharField()
    currency = CurrencyField()
    account_holder_name = serializers.CharField()
    customer = serializers.CharField(source="customer.public_id", allow_null=True, default=None)
    routing_number = serializers.CharField(allow_null=True)
    account_number = serializers.SerializerMethodField(help_text="Masked: only the last four characters show.")
    last4 = serializers.CharField()
    verification_method = serializers.CharField()
    verification_attempts_remaining = serializers.SerializerMethodField()
    verified_at = serializers.DateTimeField(allow_null=True)
    livemode = serializers.BooleanField()
    created_at = serializers.DateTimeField()

    def get_object(self, obj) -> str:
        return "bank_account"

    def get_account_number(self, obj) -> str:
        return services.mask(obj.last4)

    def get_verification_attempts_remaining(self, obj) -> int:
        if obj.status != BankAccount.Status.PENDING:
            return 0
        return max(0, services.MICRO_DEPOSIT_ATTEMPTS - obj.verification_attempts)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["routing_number"] = data["routing_number"] or None
        return data


class BankAccountVerifyInput(serializers.Serializer):
    amounts = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=99),
        min_length=2,
        max_length=2,
        help_text="The two micro-deposits in minor units; in test mode 32 and 45.",
    )


# ---- transactions --------------------------------------------------------------------------


class TransactionOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    kind = serializers.CharField()
    status = serializers.CharField()
    amount = serializers.IntegerField(help_text="Signed minor units: in positive, out negative.")
    currency = CurrencyField()
    customer = serializers.CharField(source="customer.public_id", allow_null=True, default=None)
    source = serializers.CharField(source="source_id")
    description = serializers.CharField()
    livemode = serializers.BooleanField()
    created_at = serializers.DateTimeField()

    def get_object(self, obj) -> str:
        return "transaction"


# ---- the sandbox ---------------------------------------------------------------------------


class SandboxResetOutput(serializers.Serializer):
    object = serializers.CharField()
    deleted = serializers.DictField(child=serializers.IntegerField())


class SampleDataInput(serializers.Serializer):
    customers = serializers.IntegerField(min_value=1, max_value=50, default=8)
    months = serializers.IntegerField(min_value=1, max_value=12, default=3)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=1)


class SampleDataOutput(serializers.Serializer):
    object = serializers.CharField()
    created = serializers.DictField(child=serializers.IntegerField())


class TestCardOutput(serializers.Serializer):
    number = serializers.CharField()
    behavior = serializers.CharField()
    description = serializers.CharField()
    failure_code = serializers.CharField(allow_null=True)


class TestRoutingNumberOutput(serializers.Serializer):
    routing_number = serializers.CharField()
    behavior = serializers.CharField()
    description = serializers.CharField()


class TestCardsOutput(serializers.Serializer):
    cards = TestCardOutput(many=True)
    routing_numbers = TestRoutingNumberOutput(many=True)
    micro_deposits = serializers.ListField(child=serializers.IntegerField())


class ReportQuery(serializers.Serializer):
    date_from = serializers.DateField(required=False, help_text="Default: 30 days before date_to.")
    date_to = serializers.DateField(required=False, help_text="Default: today (UTC).")
    currency = CurrencyField(required=False)
    period = serializers.ChoiceField(choices=["day", "week", "month"], default="day", help_text="cash_flow only.")
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10, help_text="top_customers only.")
    file_format = serializers.ChoiceField(choices=["json", "csv"], default="json")

    def _in_range(self, value: date, name: str) -> date:
        latest = timezone.now().date() + timedelta(days=MAX_RANGE_DAYS)
        if not fx.EARLIEST_HISTORY <= value <= latest:
            raise serializers.ValidationError({name: ["Give a date from 2000-01-01 to a year from now."]})
        return value

    def validate(self, attrs):
        date_to = self._in_range(attrs.get("date_to") or timezone.now().date(), "date_to")
        date_from = self._in_range(
            attrs.get("date_from") or max(date_to - timedelta(days=30), fx.EARLIEST_HISTORY), "date_from"
        )
        if date_from > date_to:
            raise serializers.ValidationError({"date_from": ["date_from is after date_to."]})
        if (date_to - date_from).days > MAX_RANGE_DAYS:
            raise serializers.ValidationError({"date_from": [f"A report covers at most {MAX_RANGE_DAYS} days."]})
        return attrs | {"date_from": date_from, "date_to": date_to}


class ReportOutput(serializers.Serializer):
    object = serializers.CharField()
    report = serializers.CharField()
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    currency = serializers.CharField(allow_null=True)
    data = serializers.ListField(child=serializers.DictField())
