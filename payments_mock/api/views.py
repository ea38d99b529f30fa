"""The sandbox financial APIs under /api/v1/: customers, cards, payments and refunds.

Small views, one service call each. Every query goes through `payments_mock.selectors`
with the caller's `Owner` (its organisation and live/test mode), so another
organisation's object, or an object of the other mode, answers 404. Every POST is
idempotent with `Idempotency-Key`. FX, credit and bank accounts are in `treasury.py`;
the ledger, reports and the sandbox in `ledger.py`; subscriptions in `subscriptions.py`.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from payments_mock import selectors, services, testcards
from payments_mock.api import serializers as s
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
from payments_mock.selectors import owner_from_request
from portal.api import apply_sort, paginated

# ---- customers -----------------------------------------------------------------------------

CUSTOMER_EXAMPLE = OpenApiExample(
    "A customer",
    value={
        "id": "cus_4fT0aQ8mZpL2vXc9Rk1s",
        "object": "customer",
        "email": "jenny@example.com",
        "name": "Jenny Rosen",
        "description": "",
        "metadata": {"crm_id": "8842", "note": "Grüße ✓"},
        "livemode": False,
        "created_at": "2026-01-05T10:00:00Z",
        "updated_at": "2026-01-05T10:00:00Z",
    },
    response_only=True,
)


class CustomerListCreateView(SandboxAPIView):
    required_scopes = {"GET": ("customers:read",), "POST": ("customers:write",)}

    @extend_schema(
        operation_id="customers_list",
        tags=["customers"],
        parameters=[
            *LIST_PARAMETERS,
            sort_parameter("created_at, email or name"),
            OpenApiParameter("email", str),
            OpenApiParameter("search", str, description="Part of the name or e-mail."),
        ],
        responses={200: s.CustomerOutput(many=True), **ERRORS},
        examples=[CUSTOMER_EXAMPLE],
    )
    def get(self, request):
        owner = owner_from_request(request)
        customers = selectors.customer_list(
            owner=owner,
            email=request.query_params.get("email") or None,
            search=request.query_params.get("search", "").strip() or None,
        )
        customers = apply_sort(
            request,
            customers,
            allowed={"created_at": "created_at", "email": "email", "name": "name"},
            default="-created_at",
        )
        return Response(paginated(request, customers, lambda rows: s.CustomerOutput(rows, many=True).data))

    @extend_schema(
        operation_id="customers_create",
        tags=["customers"],
        parameters=[IDEMPOTENCY],
        request=s.CustomerCreateInput,
        responses={201: s.CustomerOutput, **ERRORS},
        examples=[
            OpenApiExample(
                "Create a customer",
                value={"email": "jenny@example.com", "name": "Jenny Rosen", "metadata": {"crm_id": "8842"}},
                request_only=True,
            ),
            CUSTOMER_EXAMPLE,
        ],
    )
    def post(self, request):
        return self.idempotent(request, lambda: self._create(request))

    def _create(self, request):
        data = valid(s.CustomerCreateInput, request.data)
        customer = services.customer_create(owner=owner_from_request(request), **data)
        return Response(s.CustomerOutput(customer).data, status=status.HTTP_201_CREATED)


class CustomerDetailView(SandboxAPIView):
    required_scopes = {"GET": ("customers:read",), "PATCH": ("customers:write",), "DELETE": ("customers:write",)}

    @extend_schema(
        operation_id="customers_retrieve",
        tags=["customers"],
        responses={200: s.CustomerOutput, **ERRORS},
        examples=[CUSTOMER_EXAMPLE],
    )
    def get(self, request, customer_id: str):
        customer = selectors.customer_get(owner=owner_from_request(request), public_id=customer_id)
        return Response(s.CustomerOutput(customer).data)

    @extend_schema(
        operation_id="customers_update",
        tags=["customers"],
        request=s.CustomerUpdateInput,
        responses={200: s.CustomerOutput, **ERRORS},
        examples=[
            OpenApiExample("Rename", value={"name": "Jenny R. Rosen"}, request_only=True),
            CUSTOMER_EXAMPLE,
        ],
    )
    def patch(self, request, customer_id: str):
        customer = selectors.customer_get(owner=owner_from_request(request), public_id=customer_id)
        data = valid(s.CustomerUpdateInput, request.data)
        customer = services.customer_update(customer=customer, **data)
        return Response(s.CustomerOutput(customer).data)

    @extend_schema(
        operation_id="customers_delete",
        tags=["customers"],
        responses={200: s.DeletedOutput, **ERRORS},
        examples=[
            OpenApiExample(
                "Deleted",
                value={"id": "cus_4fT0aQ8mZpL2vXc9Rk1s", "object": "customer", "deleted": True},
                response_only=True,
            )
        ],
    )
    def delete(self, request, customer_id: str):
        customer = selectors.customer_get(owner=owner_from_request(request), public_id=customer_id)
        public_id = customer.public_id
        services.customer_delete(customer=customer)
        return Response({"id": public_id, "object": "customer", "deleted": True})


# ---- cards ---------------------------------------------------------------------------------


class TokenCreateView(SandboxAPIView):
    required_scopes = ("payments:write",)

    @extend_schema(
        operation_id="tokens_create",
        tags=["payments"],
        parameters=[IDEMPOTENCY],
        request=s.CardTokenInput,
        responses={201: s.CardTokenOutput, **ERRORS},
        description=(
            "Tokenise a card. The number is checked with Luhn and discarded: only the brand, the last four "
            "digits and the expiry are kept. Use the documented test cards (GET /api/v1/test-cards) for each "
            "outcome."
        ),
        examples=[
            OpenApiExample(
                "The success card",
                value={"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
                request_only=True,
            ),
            OpenApiExample(
                "A token",
                value={
                    "id": "tok_8xYq2Lm4Np0Rt6Vb3Kd1",
                    "object": "token",
                    "brand": "visa",
                    "last4": "4242",
                    "exp_month": 12,
                    "exp_year": 2030,
                    "fingerprint": "0f3c5a9e21b7d4c6",
                    "livemode": False,
                    "created_at": "2026-01-05T10:00:00Z",
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        return self.idempotent(request, lambda: self._create(request))

    def _create(self, request):
        data = valid(s.CardTokenInput, request.data)
        with service_errors():
            token = services.card_tokenize(owner=owner_from_request(request), **data)
        return Response(s.CardTokenOutput(token).data, status=status.HTTP_201_CREATED)


class TestCardListView(SandboxAPIView):
    """The documented test cards and routing numbers, from the table the code uses."""

    required_scopes = ("payments:read",)

    @extend_schema(
        operation_id="test_cards_list",
        tags=["payments"],
        responses={200: s.TestCardsOutput, **ERRORS},
        examples=[
            OpenApiExample(
                "The table",
                value={
                    "cards": [
                        {
                            "number": "4000000000009995",
                            "behavior": "insufficient_funds",
                            "description": "Declined for insufficient funds.",
                            "failure_code": "insufficient_funds",
                        }
                    ],
                    "routing_numbers": [
                        {
                            "routing_number": "110000000",
                            "behavior": "instant",
                            "description": "Verified instantly when the account is added.",
                        }
                    ],
                    "micro_deposits": [32, 45],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        return Response(
            {
                "cards": [
                    {
                        "number": card.number,
                        "behavior": card.behavior,
                        "description": card.description,
                        "failure_code": card.failure_code or None,
                    }
                    for card in testcards.TEST_CARDS
                ],
                "routing_numbers": [
                    {"routing_number": r.routing_number, "behavior": r.behavior, "description": r.description}
                    for r in testcards.TEST_ROUTING_NUMBERS
                ],
                "micro_deposits": list(testcards.TEST_MICRO_DEPOSITS),
            }
        )


# ---- payments ------------------------------------------------------------------------------

PAYMENT_EXAMPLE = OpenApiExample(
    "A succeeded payment",
    value={
        "id": "pay_2sJ9kQ4mT7vX1bN0cR5e",
        "object": "payment",
        "status": "succeeded",
        "amount": 1050,
        "currency": "usd",
        "amount_capturable": 0,
        "amount_captured": 1050,
        "amount_refunded": 0,
        "capture_method": "automatic",
        "customer": "cus_4fT0aQ8mZpL2vXc9Rk1s",
        "card": {"id": "tok_8xYq2Lm4Np0Rt6Vb3Kd1", "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
        "bank_account": None,
        "description": "Order 6735",
        "metadata": {},
        "risk": {"score": 28, "level": "normal", "reason": "Amount within the usual range for card payments."},
        "failure_code": None,
        "failure_message": None,
        "next_action": None,
        "cancellation_reason": None,
        "livemode": False,
        "created_at": "2026-01-05T10:00:00Z",
        "updated_at": "2026-01-05T10:00:00Z",
    },
    response_only=True,
)


def _payment_response(payment, code=status.HTTP_200_OK):
    return Response(s.PaymentOutput(payment).data, status=code)


class PaymentListCreateView(SandboxAPIView):
    required_scopes = {"GET": ("payments:read",), "POST": ("payments:write",)}

    @extend_schema(
        operation_id="payments_list",
        tags=["payments"],
        parameters=[
            *LIST_PARAMETERS,
            sort_parameter("created_at or amount"),
            OpenApiParameter("status", str),
            OpenApiParameter("customer", str),
            OpenApiParameter("currency", str),
        ],
        responses={200: s.PaymentOutput(many=True), **ERRORS},
        examples=[PAYMENT_EXAMPLE],
    )
    def get(self, request):
        payments = selectors.payment_list(
            owner=owner_from_request(request),
            status=request.query_params.get("status") or None,
            customer=request.query_params.get("customer") or None,
            currency=request.query_params.get("currency") or None,
        )
        payments = apply_sort(
            request, payments, allowed={"created_at": "created_at", "amount": "amount"}, default="-created_at"
        )
        return Response(paginated(request, payments, lambda rows: s.PaymentOutput(rows, many=True).data))

    @extend_schema(
        operation_id="payments_create",
        tags=["payments"],
        parameters=[IDEMPOTENCY],
        request=s.PaymentCreateInput,
        responses={201: s.PaymentOutput, **ERRORS},
        description=(
            "Create and (unless `confirm` is false) confirm a payment. The outcome follows the test card: "
            "succeeded, failed (with `failure_code`), requires_action (3-D Secure; confirm again with the "
            "result), processing (settled a few seconds later by the settlement task) or, with "
            "`capture_method=manual`, requires_capture."
        ),
        examples=[
            OpenApiExample(
                "Charge a card",
                value={
                    "amount": 1050,
                    "currency": "usd",
                    "card": "tok_8xYq2Lm4Np0Rt6Vb3Kd1",
                    "description": "Order 6735",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Authorise now, capture later",
                value={
                    "amount": 5000,
                    "currency": "eur",
                    "card": "tok_8xYq2Lm4Np0Rt6Vb3Kd1",
                    "capture_method": "manual",
                },
                request_only=True,
            ),
            PAYMENT_EXAMPLE,
        ],
    )
    def post(self, request):
        return self.idempotent(request, lambda: self._create(request))

    def _create(self, request):
        owner = owner_from_request(request)
        data = dict(valid(s.PaymentCreateInput, request.data))
        data["card"] = related(selectors.card_token_get, owner, data.get("card"), "card")
        data["bank_account"] = related(selectors.bank_account_get, owner, data.get("bank_account"), "bank_account")
        data["customer"] = related(selectors.customer_get, owner, data.get("customer"), "customer")
        with service_errors():
            payment = services.payment_create(owner=owner, **data)
        return _payment_response(payment, status.HTTP_201_CREATED)


class PaymentDetailView(SandboxAPIView):
    required_scopes = ("payments:read",)

    @extend_schema(
        operation_id="payments_retrieve",
        tags=["payments"],
        responses={200: s.PaymentOutput, **ERRORS},
        examples=[PAYMENT_EXAMPLE],
    )
    def get(self, request, payment_id: str):
        return _payment_response(selectors.payment_get(owner=owner_from_request(request), public_id=payment_id))


class _PaymentActionView(SandboxAPIView):
    required_scopes = ("payments:write",)
    input_class = None

    def post(self, request, payment_id: str):
        return self.idempotent(request, lambda: self._act(request, payment_id))

    def _act(self, request, payment_id: str):
        payment = selectors.payment_get(owner=owner_from_request(request), public_id=payment_id)
        data = valid(self.input_class, request.data)
        with service_errors():
            payment = self.act(payment, data)
        return _payment_response(payment)


class PaymentConfirmView(_PaymentActionView):
    input_class = s.PaymentConfirmInput

    @extend_schema(
        operation_id="payments_confirm",
        tags=["payments"],
        parameters=[IDEMPOTENCY],
        request=s.PaymentConfirmInput,
        responses={200: s.PaymentOutput, **ERRORS},
        description="Confirm a payment in requires_confirmation, or finish 3-D Secure for one in requires_action.",
        examples=[
            OpenApiExample("Finish 3-D Secure", value={"three_d_secure": "authenticated"}, request_only=True),
            PAYMENT_EXAMPLE,
        ],
    )
    def post(self, request, payment_id: str):
        return super().post(request, payment_id)

    def act(self, payment, data):
        return services.payment_confirm(payment=payment, three_d_secure=data.get("three_d_secure"))


class PaymentCaptureView(_PaymentActionView):
    input_class = s.PaymentCaptureInput

    @extend_schema(
        operation_id="payments_capture",
        tags=["payments"],
        parameters=[IDEMPOTENCY],
        request=s.PaymentCaptureInput,
        responses={200: s.PaymentOutput, **ERRORS},
        description="Capture all or part of a payment in requires_capture; the rest is released.",
        examples=[OpenApiExample("Capture part", value={"amount": 3000}, request_only=True), PAYMENT_EXAMPLE],
    )
    def post(self, request, payment_id: str):
        return super().post(request, payment_id)

    def act(self, payment, data):
        return services.payment_capture(payment=payment, amount=data.get("amount"))


class PaymentCancelView(_PaymentActionView):
    input_class = s.PaymentCancelInput

    @extend_schema(
        operation_id="payments_cancel",
        tags=["payments"],
        parameters=[IDEMPOTENCY],
        request=s.PaymentCancelInput,
        responses={200: s.PaymentOutput, **ERRORS},
        description="Cancel a payment that is not yet captured or settled.",
        examples=[OpenApiExample("Cancel", value={"reason": "abandoned"}, request_only=True), PAYMENT_EXAMPLE],
    )
    def post(self, request, payment_id: str):
        return super().post(request, payment_id)

    def act(self, payment, data):
        return services.payment_cancel(payment=payment, reason=data["reason"])


# ---- refunds -------------------------------------------------------------------------------

REFUND_EXAMPLE = OpenApiExample(
    "A refund",
    value={
        "id": "re_7gH2kL9mN4pQ1rS8tV3w",
        "object": "refund",
        "payment": "pay_2sJ9kQ4mT7vX1bN0cR5e",
        "amount": 500,
        "currency": "usd",
        "status": "succeeded",
        "reason": "requested_by_customer",
        "failure_reason": None,
        "metadata": {},
        "livemode": False,
        "created_at": "2026-01-06T09:00:00Z",
    },
    response_only=True,
)


class RefundListCreateView(SandboxAPIView):
    required_scopes = {"GET": ("refunds:read",), "POST": ("refunds:write",)}

    @extend_schema(
        operation_id="refunds_list",
        tags=["refunds"],
        parameters=[
            *LIST_PARAMETERS,
            sort_parameter("created_at or amount"),
            OpenApiParameter("payment", str),
            OpenApiParameter("status", str, enum=["pending", "succeeded", "failed"]),
        ],
        responses={200: s.RefundOutput(many=True), **ERRORS},
        examples=[REFUND_EXAMPLE],
    )
    def get(self, request):
        refunds = selectors.refund_list(
            owner=owner_from_request(request),
            payment=request.query_params.get("payment") or None,
            status=request.query_params.get("status") or None,
        )
        refunds = apply_sort(
            request, refunds, allowed={"created_at": "created_at", "amount": "amount"}, default="-created_at"
        )
        return Response(paginated(request, refunds, lambda rows: s.RefundOutput(rows, many=True).data))

    @extend_schema(
        operation_id="refunds_create",
        tags=["refunds"],
        parameters=[IDEMPOTENCY],
        request=s.RefundCreateInput,
        responses={201: s.RefundOutput, **ERRORS},
        description="Refund all or part of a succeeded payment; partial refunds add up to at most the captured amount.",
        examples=[
            OpenApiExample(
                "A partial refund", value={"payment": "pay_2sJ9kQ4mT7vX1bN0cR5e", "amount": 500}, request_only=True
            ),
            REFUND_EXAMPLE,
        ],
    )
    def post(self, request):
        return self.idempotent(request, lambda: self._create(request))

    def _create(self, request):
        owner = owner_from_request(request)
        data = dict(valid(s.RefundCreateInput, request.data))
        payment = related(selectors.payment_get, owner, data.pop("payment"), "payment")
        with service_errors():
            refund = services.refund_create(payment=payment, **data)
        return Response(s.RefundOutput(refund).data, status=status.HTTP_201_CREATED)


class RefundDetailView(SandboxAPIView):
    required_scopes = ("refunds:read",)

    @extend_schema(
        operation_id="refunds_retrieve",
        tags=["refunds"],
        responses={200: s.RefundOutput, **ERRORS},
        examples=[REFUND_EXAMPLE],
    )
    def get(self, request, refund_id: str):
        refund = selectors.refund_get(owner=owner_from_request(request), public_id=refund_id)
        return Response(s.RefundOutput(refund).data)
