"""The subscriptions API: products, prices, subscriptions, invoices and the test clock.

Serializers and views together, since they are used nowhere else; the services are in
payments_mock/billing.py.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from payments_mock import billing, selectors
from payments_mock.api.common import (
    ERRORS,
    IDEMPOTENCY,
    LIST_PARAMETERS,
    SandboxAPIView,
    related,
    service_errors,
    sort_parameter,
    valid,
)
from payments_mock.api.serializers import AmountField, CurrencyField, MetadataField, NoNulCharField
from payments_mock.models import Invoice, Price, Subscription
from payments_mock.selectors import owner_from_request
from portal.api import apply_sort, paginated
from portal.problems import ProblemException

READ = ("subscriptions:read",)
WRITE = ("subscriptions:write",)

# ---- serializers ---------------------------------------------------------------------------


class ProductInput(serializers.Serializer):
    name = NoNulCharField(max_length=200)
    description = NoNulCharField(max_length=500, required=False, allow_blank=True, default="")
    metadata = MetadataField(required=False, default=dict)


class ProductOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    name = serializers.CharField()
    description = serializers.CharField()
    active = serializers.BooleanField()
    metadata = MetadataField()
    livemode = serializers.BooleanField()
    created_at = serializers.DateTimeField()

    def get_object(self, obj) -> str:
        return "product"


class PriceInput(serializers.Serializer):
    product = serializers.CharField(max_length=32)
    currency = CurrencyField()
    unit_amount = AmountField(allow_zero=True)
    interval = serializers.ChoiceField(choices=Price.Interval.choices)
    interval_count = serializers.IntegerField(min_value=1, max_value=365, default=1)
    nickname = NoNulCharField(max_length=100, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        limits = {"day": 365, "week": 52, "month": 12, "year": 3}
        if attrs["interval_count"] > limits[attrs["interval"]]:
            raise serializers.ValidationError(
                {"interval_count": [f"At most {limits[attrs['interval']]} for {attrs['interval']} (three years)."]}
            )
        return attrs


class PriceOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    product = serializers.CharField(source="product.public_id")
    currency = CurrencyField()
    unit_amount = serializers.IntegerField()
    interval = serializers.CharField()
    interval_count = serializers.IntegerField()
    nickname = serializers.CharField()
    active = serializers.BooleanField()
    livemode = serializers.BooleanField()
    created_at = serializers.DateTimeField()

    def get_object(self, obj) -> str:
        return "price"


class SubscriptionInput(serializers.Serializer):
    customer = serializers.CharField(max_length=32)
    price = serializers.CharField(max_length=32)
    card = serializers.CharField(max_length=32, help_text="A tok_ id that pays every invoice.")
    trial_period_days = serializers.IntegerField(min_value=0, max_value=730, default=0)
    metadata = MetadataField(required=False, default=dict)


class SubscriptionUpdateInput(serializers.Serializer):
    price = serializers.CharField(max_length=32, required=False, help_text="Upgrade or downgrade, prorated.")
    card = serializers.CharField(max_length=32, required=False)
    cancel_at_period_end = serializers.BooleanField(required=False)


class SubscriptionCancelInput(serializers.Serializer):
    at_period_end = serializers.BooleanField(default=False)


class SubscriptionOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=Subscription.Status.choices)
    customer = serializers.CharField(source="customer.public_id")
    price = serializers.CharField(source="price.public_id")
    card = serializers.CharField(source="card.public_id")
    billing_cycle_anchor = serializers.DateTimeField()
    current_period_start = serializers.DateTimeField()
    current_period_end = serializers.DateTimeField()
    trial_end = serializers.DateTimeField(allow_null=True)
    cancel_at_period_end = serializers.BooleanField()
    canceled_at = serializers.DateTimeField(allow_null=True)
    credit_balance = serializers.IntegerField()
    metadata = MetadataField()
    livemode = serializers.BooleanField()
    created_at = serializers.DateTimeField()

    def get_object(self, obj) -> str:
        return "subscription"


class InvoiceLineOutput(serializers.Serializer):
    description = serializers.CharField()
    amount = serializers.IntegerField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    proration = serializers.BooleanField()


class InvoiceOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=Invoice.Status.choices)
    subscription = serializers.CharField(source="subscription.public_id")
    customer = serializers.CharField(source="customer.public_id")
    currency = CurrencyField()
    subtotal = serializers.IntegerField()
    credit_applied = serializers.IntegerField()
    amount_due = serializers.IntegerField()
    amount_paid = serializers.IntegerField()
    billing_reason = serializers.CharField()
    lines = InvoiceLineOutput(many=True)
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    attempt_count = serializers.IntegerField()
    next_payment_attempt = serializers.DateTimeField(allow_null=True)
    payment = serializers.CharField(source="payment.public_id", allow_null=True, default=None)
    paid_at = serializers.DateTimeField(allow_null=True)
    livemode = serializers.BooleanField()
    created_at = serializers.DateTimeField()

    def get_object(self, obj) -> str:
        return "invoice"


class TestClockAdvanceInput(serializers.Serializer):
    to = serializers.DateTimeField(required=False, help_text="The new time; or give `seconds`.")
    seconds = serializers.IntegerField(required=False, min_value=1, max_value=int(billing.MAX_ADVANCE.total_seconds()))

    def validate(self, attrs):
        if ("to" in attrs) == ("seconds" in attrs):
            raise serializers.ValidationError({"to": ["Give exactly one of to or seconds."]})
        return attrs


class TestClockOutput(serializers.Serializer):
    object = serializers.SerializerMethodField()
    frozen_time = serializers.DateTimeField()
    processed = serializers.IntegerField(required=False, help_text="Renewals and retries run by this advance.")

    def get_object(self, obj) -> str:
        return "test_clock"


# ---- examples ------------------------------------------------------------------------------

PRODUCT_EXAMPLE = OpenApiExample(
    "A product",
    value={
        "id": "prod_9aB8cD7eF6gH5iJ4kL3m",
        "object": "product",
        "name": "Pro plan",
        "description": "",
        "active": True,
        "metadata": {},
        "livemode": False,
        "created_at": "2026-01-05T10:00:00Z",
    },
    response_only=True,
)
PRICE_EXAMPLE = OpenApiExample(
    "A monthly price",
    value={
        "id": "price_1qW2eR3tY4uI5oP6aS7d",
        "object": "price",
        "product": "prod_9aB8cD7eF6gH5iJ4kL3m",
        "currency": "usd",
        "unit_amount": 2000,
        "interval": "month",
        "interval_count": 1,
        "nickname": "Monthly",
        "active": True,
        "livemode": False,
        "created_at": "2026-01-05T10:00:00Z",
    },
    response_only=True,
)
INVOICE_EXAMPLE = OpenApiExample(
    "A prorated upgrade",
    value={
        "id": "in_3zX4cV5bN6mA7sD8fG9h",
        "object": "invoice",
        "status": "paid",
        "subscription": "sub_7Ui9Op2As4Df6Gh8Jk1L",
        "customer": "cus_4fT0aQ8mZpL2vXc9Rk1s",
        "currency": "usd",
        "subtotal": 1000,
        "credit_applied": 0,
        "amount_due": 1000,
        "amount_paid": 1000,
        "billing_reason": "subscription_update",
        "lines": [
            {
                "description": "Unused time on Pro (1000 usd per month)",
                "amount": -500,
                "period_start": "2028-02-14T22:00:00Z",
                "period_end": "2028-02-29T10:00:00Z",
                "proration": True,
            },
            {
                "description": "Remaining time on Pro (3000 usd per month)",
                "amount": 1500,
                "period_start": "2028-02-14T22:00:00Z",
                "period_end": "2028-02-29T10:00:00Z",
                "proration": True,
            },
        ],
        "period_start": "2028-02-14T22:00:00Z",
        "period_end": "2028-02-29T10:00:00Z",
        "attempt_count": 1,
        "next_payment_attempt": None,
        "payment": "pay_2sJ9kQ4mT7vX1bN0cR5e",
        "paid_at": "2028-02-14T22:00:00Z",
        "livemode": False,
        "created_at": "2028-02-14T22:00:00Z",
    },
    response_only=True,
)
CLOCK_EXAMPLE = OpenApiExample(
    "The clock",
    value={"object": "test_clock", "frozen_time": "2028-03-01T00:00:00Z", "processed": 2},
    response_only=True,
)

# ---- views ---------------------------------------------------------------------------------


class ProductListCreateView(SandboxAPIView):
    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(
        operation_id="products_list",
        examples=[PRODUCT_EXAMPLE],
        tags=["subscriptions"],
        parameters=[*LIST_PARAMETERS, sort_parameter("created_at or name")],
        responses={200: ProductOutput(many=True), **ERRORS},
    )
    def get(self, request):
        products = selectors.product_list(owner=owner_from_request(request))
        products = apply_sort(
            request, products, allowed={"created_at": "created_at", "name": "name"}, default="-created_at"
        )
        return Response(paginated(request, products, lambda rows: ProductOutput(rows, many=True).data))

    @extend_schema(
        operation_id="products_create",
        tags=["subscriptions"],
        parameters=[IDEMPOTENCY],
        request=ProductInput,
        responses={201: ProductOutput, **ERRORS},
        examples=[OpenApiExample("Create", value={"name": "Pro plan"}, request_only=True), PRODUCT_EXAMPLE],
    )
    def post(self, request):
        return self.idempotent(request, lambda: self._create(request))

    def _create(self, request):
        product = billing.product_create(owner=owner_from_request(request), **valid(ProductInput, request.data))
        return Response(ProductOutput(product).data, status=status.HTTP_201_CREATED)


class ProductDetailView(SandboxAPIView):
    required_scopes = READ

    @extend_schema(
        operation_id="products_retrieve",
        tags=["subscriptions"],
        responses={200: ProductOutput, **ERRORS},
        examples=[PRODUCT_EXAMPLE],
    )
    def get(self, request, product_id: str):
        return Response(
            ProductOutput(selectors.product_get(owner=owner_from_request(request), public_id=product_id)).data
        )


class PriceListCreateView(SandboxAPIView):
    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(
        operation_id="prices_list",
        examples=[PRICE_EXAMPLE],
        tags=["subscriptions"],
        parameters=[*LIST_PARAMETERS, sort_parameter("created_at or unit_amount"), OpenApiParameter("product", str)],
        responses={200: PriceOutput(many=True), **ERRORS},
    )
    def get(self, request):
        prices = selectors.price_list(owner=owner_from_request(request), product=request.query_params.get("product"))
        prices = apply_sort(
            request, prices, allowed={"created_at": "created_at", "unit_amount": "unit_amount"}, default="-created_at"
        )
        return Response(paginated(request, prices, lambda rows: PriceOutput(rows, many=True).data))

    @extend_schema(
        operation_id="prices_create",
        tags=["subscriptions"],
        parameters=[IDEMPOTENCY],
        request=PriceInput,
        responses={201: PriceOutput, **ERRORS},
        examples=[
            OpenApiExample(
                "Monthly",
                value={
                    "product": "prod_9aB8cD7eF6gH5iJ4kL3m",
                    "currency": "usd",
                    "unit_amount": 2000,
                    "interval": "month",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Every two weeks",
                value={
                    "product": "prod_9aB8cD7eF6gH5iJ4kL3m",
                    "currency": "eur",
                    "unit_amount": 900,
                    "interval": "week",
                    "interval_count": 2,
                },
                request_only=True,
            ),
            PRICE_EXAMPLE,
        ],
    )
    def post(self, request):
        return self.idempotent(request, lambda: self._create(request))

    def _create(self, request):
        owner = owner_from_request(request)
        data = dict(valid(PriceInput, request.data))
        data["product"] = related(selectors.product_get, owner, data["product"], "product")
        price = billing.price_create(**data)
        return Response(PriceOutput(price).data, status=status.HTTP_201_CREATED)


class PriceDetailView(SandboxAPIView):
    required_scopes = READ

    @extend_schema(
        operation_id="prices_retrieve",
        tags=["subscriptions"],
        responses={200: PriceOutput, **ERRORS},
        examples=[PRICE_EXAMPLE],
    )
    def get(self, request, price_id: str):
        return Response(PriceOutput(selectors.price_get(owner=owner_from_request(request), public_id=price_id)).data)


SUBSCRIPTION_EXAMPLE = OpenApiExample(
    "A subscription",
    value={
        "id": "sub_7Ui9Op2As4Df6Gh8Jk1L",
        "object": "subscription",
        "status": "active",
        "customer": "cus_4fT0aQ8mZpL2vXc9Rk1s",
        "price": "price_1qW2eR3tY4uI5oP6aS7d",
        "card": "tok_8xYq2Lm4Np0Rt6Vb3Kd1",
        "billing_cycle_anchor": "2026-01-31T10:00:00Z",
        "current_period_start": "2026-01-31T10:00:00Z",
        "current_period_end": "2026-02-28T10:00:00Z",
        "trial_end": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "credit_balance": 0,
        "metadata": {},
        "livemode": False,
        "created_at": "2026-01-31T10:00:00Z",
    },
    response_only=True,
)


class SubscriptionListCreateView(SandboxAPIView):
    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(
        operation_id="subscriptions_list",
        tags=["subscriptions"],
        parameters=[
            *LIST_PARAMETERS,
            sort_parameter("created_at or current_period_end"),
            OpenApiParameter("status", str, enum=[c for c, _ in Subscription.Status.choices]),
            OpenApiParameter("customer", str),
        ],
        responses={200: SubscriptionOutput(many=True), **ERRORS},
        examples=[SUBSCRIPTION_EXAMPLE],
    )
    def get(self, request):
        subs = selectors.subscription_list(
            owner=owner_from_request(request),
            status=request.query_params.get("status") or None,
            customer=request.query_params.get("customer") or None,
        )
        subs = apply_sort(
            request,
            subs,
            allowed={"created_at": "created_at", "current_period_end": "current_period_end"},
            default="-created_at",
        )
        return Response(paginated(request, subs, lambda rows: SubscriptionOutput(rows, many=True).data))

    @extend_schema(
        operation_id="subscriptions_create",
        tags=["subscriptions"],
        parameters=[IDEMPOTENCY],
        request=SubscriptionInput,
        responses={201: SubscriptionOutput, **ERRORS},
        description=(
            "Subscribe a customer. Without a trial the first period is invoiced and charged at once; a failed "
            "charge makes the subscription past_due and starts dunning (retries after 1, 3 and 5 days, then "
            "cancel)."
        ),
        examples=[
            OpenApiExample(
                "With a trial",
                value={
                    "customer": "cus_4fT0aQ8mZpL2vXc9Rk1s",
                    "price": "price_1qW2eR3tY4uI5oP6aS7d",
                    "card": "tok_8xYq2Lm4Np0Rt6Vb3Kd1",
                    "trial_period_days": 14,
                },
                request_only=True,
            ),
            SUBSCRIPTION_EXAMPLE,
        ],
    )
    def post(self, request):
        return self.idempotent(request, lambda: self._create(request))

    def _create(self, request):
        owner = owner_from_request(request)
        data = dict(valid(SubscriptionInput, request.data))
        data["customer"] = related(selectors.customer_get, owner, data["customer"], "customer")
        data["price"] = related(selectors.price_get, owner, data["price"], "price")
        data["card"] = related(selectors.card_token_get, owner, data["card"], "card")
        with service_errors():
            sub = billing.subscription_create(owner=owner, **data)
        return Response(SubscriptionOutput(sub).data, status=status.HTTP_201_CREATED)


class SubscriptionDetailView(SandboxAPIView):
    required_scopes = {"GET": READ, "PATCH": WRITE}

    @extend_schema(
        operation_id="subscriptions_retrieve",
        tags=["subscriptions"],
        responses={200: SubscriptionOutput, **ERRORS},
        examples=[SUBSCRIPTION_EXAMPLE],
    )
    def get(self, request, subscription_id: str):
        sub = selectors.subscription_get(owner=owner_from_request(request), public_id=subscription_id)
        return Response(SubscriptionOutput(sub).data)

    @extend_schema(
        operation_id="subscriptions_update",
        tags=["subscriptions"],
        request=SubscriptionUpdateInput,
        responses={200: SubscriptionOutput, **ERRORS},
        description=(
            "Change the price (prorated to the second: an upgrade is invoiced now, a downgrade leaves a credit for "
            "the next invoice), the card, or cancel_at_period_end."
        ),
        examples=[OpenApiExample("Upgrade", value={"price": "price_5gH6jK7lZ8xC9vB0nM1q"}, request_only=True)],
    )
    def patch(self, request, subscription_id: str):
        owner = owner_from_request(request)
        sub = selectors.subscription_get(owner=owner, public_id=subscription_id)
        data = valid(SubscriptionUpdateInput, request.data)
        with service_errors():
            if "card" in data:
                sub = billing.subscription_update_card(
                    subscription=sub, card=related(selectors.card_token_get, owner, data["card"], "card")
                )
            if "price" in data:
                sub = billing.subscription_change_price(
                    subscription=sub, price=related(selectors.price_get, owner, data["price"], "price")
                )
            if data.get("cancel_at_period_end") is True:
                sub = billing.subscription_cancel(subscription=sub, at_period_end=True)
            elif data.get("cancel_at_period_end") is False and sub.cancel_at_period_end:
                sub = billing.subscription_resume(subscription=sub)
        return Response(SubscriptionOutput(selectors.subscription_get(owner=owner, public_id=subscription_id)).data)


class SubscriptionCancelView(SandboxAPIView):
    required_scopes = WRITE

    @extend_schema(
        operation_id="subscriptions_cancel",
        tags=["subscriptions"],
        parameters=[IDEMPOTENCY],
        request=SubscriptionCancelInput,
        responses={200: SubscriptionOutput, **ERRORS},
        examples=[
            OpenApiExample("At period end", value={"at_period_end": True}, request_only=True),
            SUBSCRIPTION_EXAMPLE,
        ],
    )
    def post(self, request, subscription_id: str):
        return self.idempotent(request, lambda: self._cancel(request, subscription_id))

    def _cancel(self, request, subscription_id: str):
        owner = owner_from_request(request)
        sub = selectors.subscription_get(owner=owner, public_id=subscription_id)
        data = valid(SubscriptionCancelInput, request.data)
        sub = billing.subscription_cancel(subscription=sub, at_period_end=data["at_period_end"])
        return Response(SubscriptionOutput(selectors.subscription_get(owner=owner, public_id=subscription_id)).data)


class InvoiceListView(SandboxAPIView):
    required_scopes = READ

    @extend_schema(
        operation_id="invoices_list",
        examples=[INVOICE_EXAMPLE],
        tags=["subscriptions"],
        parameters=[
            *LIST_PARAMETERS,
            sort_parameter("created_at or amount_due"),
            OpenApiParameter("subscription", str),
            OpenApiParameter("status", str, enum=[c for c, _ in Invoice.Status.choices]),
        ],
        responses={200: InvoiceOutput(many=True), **ERRORS},
    )
    def get(self, request):
        invoices = selectors.invoice_list(
            owner=owner_from_request(request),
            subscription=request.query_params.get("subscription") or None,
            status=request.query_params.get("status") or None,
        )
        invoices = apply_sort(
            request, invoices, allowed={"created_at": "created_at", "amount_due": "amount_due"}, default="-created_at"
        )
        return Response(paginated(request, invoices, lambda rows: InvoiceOutput(rows, many=True).data))


class InvoiceDetailView(SandboxAPIView):
    required_scopes = READ

    @extend_schema(
        operation_id="invoices_retrieve",
        tags=["subscriptions"],
        responses={200: InvoiceOutput, **ERRORS},
        examples=[INVOICE_EXAMPLE],
    )
    def get(self, request, invoice_id: str):
        return Response(
            InvoiceOutput(selectors.invoice_get(owner=owner_from_request(request), public_id=invoice_id)).data
        )


class InvoicePayView(SandboxAPIView):
    required_scopes = WRITE

    @extend_schema(
        operation_id="invoices_pay",
        examples=[INVOICE_EXAMPLE],
        tags=["subscriptions"],
        parameters=[IDEMPOTENCY],
        request=None,
        responses={200: InvoiceOutput, **ERRORS},
        description="Retry an open invoice now, with the subscription's current card.",
    )
    def post(self, request, invoice_id: str):
        return self.idempotent(request, lambda: self._pay(request, invoice_id))

    def _pay(self, request, invoice_id: str):
        owner = owner_from_request(request)
        invoice = billing.invoice_pay(invoice=selectors.invoice_get(owner=owner, public_id=invoice_id))
        return Response(InvoiceOutput(selectors.invoice_get(owner=owner, public_id=invoice.public_id)).data)


class TestClockView(SandboxAPIView):
    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(
        operation_id="test_clock_retrieve",
        tags=["subscriptions"],
        responses={200: TestClockOutput, **ERRORS},
        examples=[CLOCK_EXAMPLE],
    )
    def get(self, request):
        owner = owner_from_request(request)
        _require_test_mode(owner)
        return Response(TestClockOutput(billing.test_clock_get(owner=owner)).data)

    @extend_schema(
        operation_id="test_clock_advance",
        tags=["subscriptions"],
        parameters=[IDEMPOTENCY],
        request=TestClockAdvanceInput,
        responses={200: TestClockOutput, **ERRORS},
        description=(
            "Test mode only: move the organisation's sandbox clock forward; every renewal, invoice and retry due "
            "by then runs now. Once a clock exists, test-mode billing follows it instead of real time."
        ),
        examples=[OpenApiExample("One month", value={"seconds": 2678400}, request_only=True), CLOCK_EXAMPLE],
    )
    def post(self, request):
        return self.idempotent(request, lambda: self._advance(request))

    def _advance(self, request):
        owner = owner_from_request(request)
        _require_test_mode(owner)
        data = valid(TestClockAdvanceInput, request.data)
        clock = billing.test_clock_get(owner=owner)
        to = data.get("to") or clock.frozen_time + billing.timedelta(seconds=data["seconds"])
        with service_errors():
            clock, processed = billing.test_clock_advance(owner=owner, to=to)
        return Response({"object": "test_clock", "frozen_time": clock.frozen_time, "processed": processed})


def _require_test_mode(owner) -> None:
    if owner.livemode:
        raise ProblemException(
            status_code=403,
            detail="The test clock exists only in test mode; use a test key.",
            slug="forbidden",
            title="Forbidden",
        )
