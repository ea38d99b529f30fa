"""The sandbox FX, credit scoring and bank account APIs."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response

from payments_mock import credit, fx, selectors, services
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
from portal.problems import ProblemException

# ---- FX ------------------------------------------------------------------------------------


def _rate_row(rate: fx.Rate) -> dict:
    return {
        "currency": rate.target,
        "mid": services.decimal_str(rate.mid),
        "bid": services.decimal_str(rate.bid),
        "ask": services.decimal_str(rate.ask),
        "spread_bps": rate.spread_bps,
    }


class FxRatesView(SandboxAPIView):
    required_scopes = ("fx:read",)

    @extend_schema(
        operation_id="fx_rates",
        tags=["fx"],
        parameters=[
            OpenApiParameter("base", str, description="The base currency (default USD)."),
            OpenApiParameter("date", str, description="YYYY-MM-DD for that day's 16:00 UTC fixing; default now."),
        ],
        responses={200: s.FxRatesOutput, **ERRORS},
        description=(
            "Simulated rates: deterministic from the documented seed, moving over time, with a bid/ask spread. "
            "Each row is units of `currency` per one unit of `base`."
        ),
        examples=[
            OpenApiExample(
                "Rates",
                value={
                    "object": "fx_rates",
                    "base": "USD",
                    "as_of": "2026-01-05T16:00:00Z",
                    "seed": fx.SEED,
                    "rates": [
                        {"currency": "EUR", "mid": "0.9213", "bid": "0.92084", "ask": "0.92176", "spread_bps": 10}
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        query = valid(s.FxRatesQuery, request.query_params)
        now = timezone.now()
        if query.get("date"):
            if query["date"] > now.date():
                raise exceptions.ValidationError({"date": ["Rates for future dates are not known yet."]})
            at = min(fx.fixing_instant(query["date"]), now)
        else:
            at = now
        base = query["base"]
        rates = [_rate_row(fx.rate(base, code, at)) for code in fx.FX_CURRENCIES if code != base]
        return Response({"object": "fx_rates", "base": base, "as_of": at, "seed": fx.SEED, "rates": rates})


class FxConvertView(SandboxAPIView):
    required_scopes = ("fx:read",)

    @extend_schema(
        operation_id="fx_convert",
        tags=["fx"],
        parameters=[
            OpenApiParameter("source", str, required=True),
            OpenApiParameter("target", str, required=True),
            OpenApiParameter("amount", int, required=True, description="Minor units of the source currency."),
        ],
        responses={200: s.FxConvertOutput, **ERRORS},
        description="An indicative conversion at the current bid. To lock a rate, create a quote.",
        examples=[
            OpenApiExample(
                "100 USD in JPY",
                value={
                    "object": "fx_conversion_estimate",
                    "source": "USD",
                    "target": "JPY",
                    "source_amount": 10000,
                    "target_amount": 15143,
                    "rate": "151.4242",
                    "mid_rate": "151.5",
                    "as_of": "2026-01-05T10:00:00Z",
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        query = valid(s.FxConvertQuery, request.query_params)
        now = timezone.now()
        with service_errors():
            rate, converted = services.fx_price(
                source=query["source"], target=query["target"], amount=query["amount"], at=now
            )
        return Response(
            {
                "object": "fx_conversion_estimate",
                "source": query["source"],
                "target": query["target"],
                "source_amount": query["amount"],
                "target_amount": converted,
                "rate": services.decimal_str(rate.bid),
                "mid_rate": services.decimal_str(rate.mid),
                "as_of": now,
            }
        )


QUOTE_EXAMPLE = OpenApiExample(
    "A quote",
    value={
        "id": "fxq_3bV8nM1kJ6hG0fD4sA2p",
        "object": "fx_quote",
        "source": "EUR",
        "target": "GBP",
        "source_amount": 100000,
        "target_amount": 85790,
        "rate": "0.8579",
        "mid_rate": "0.85833",
        "expires_at": "2026-01-05T10:01:00Z",
        "used": False,
        "livemode": False,
        "created_at": "2026-01-05T10:00:00Z",
    },
    response_only=True,
)


class FxQuoteCreateView(SandboxAPIView):
    required_scopes = ("fx:write",)

    @extend_schema(
        operation_id="fx_quotes_create",
        tags=["fx"],
        parameters=[IDEMPOTENCY],
        request=s.FxQuoteInput,
        responses={201: s.FxQuoteOutput, **ERRORS},
        description="Lock the current bid for 60 seconds; convert with POST /api/v1/fx/conversions.",
        examples=[
            OpenApiExample("Quote", value={"source": "EUR", "target": "GBP", "amount": 100000}, request_only=True),
            QUOTE_EXAMPLE,
        ],
    )
    def post(self, request):
        return self.idempotent(request, lambda: self._create(request))

    def _create(self, request):
        data = valid(s.FxQuoteInput, request.data)
        with service_errors():
            quote = services.fx_quote_create(
                owner=owner_from_request(request), source=data["source"], target=data["target"], amount=data["amount"]
            )
        return Response(s.FxQuoteOutput(quote).data, status=status.HTTP_201_CREATED)


class FxQuoteDetailView(SandboxAPIView):
    required_scopes = ("fx:read",)

    @extend_schema(
        operation_id="fx_quotes_retrieve",
        tags=["fx"],
        responses={200: s.FxQuoteOutput, **ERRORS},
        examples=[QUOTE_EXAMPLE],
    )
    def get(self, request, quote_id: str):
        return Response(
            s.FxQuoteOutput(selectors.fx_quote_get(owner=owner_from_request(request), public_id=quote_id)).data
        )


class FxConversionCreateView(SandboxAPIView):
    required_scopes = ("fx:write",)

    @extend_schema(
        operation_id="fx_conversions_create",
        tags=["fx"],
        parameters=[IDEMPOTENCY],
        request=s.FxConversionInput,
        responses={201: s.FxConversionOutput, **ERRORS},
        description="Convert at a quote's locked rate. A quote converts once; after 60 s it is a 409 quote-expired.",
        examples=[
            OpenApiExample("Convert", value={"quote": "fxq_3bV8nM1kJ6hG0fD4sA2p"}, request_only=True),
            OpenApiExample(
                "A conversion",
                value={
                    "id": "fxc_9kL2mN5pQ8rS1tV4wX7y",
                    "object": "fx_conversion",
                    "quote": "fxq_3bV8nM1kJ6hG0fD4sA2p",
                    "source": "EUR",
                    "target": "GBP",
                    "source_amount": 100000,
                    "target_amount": 85790,
                    "rate": "0.8579",
                    "livemode": False,
                    "created_at": "2026-01-05T10:00:30Z",
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        return self.idempotent(request, lambda: self._create(request))

    def _create(self, request):
        owner = owner_from_request(request)
        data = valid(s.FxConversionInput, request.data)
        quote = related(selectors.fx_quote_get, owner, data["quote"], "quote")
        conversion = services.fx_conversion_create(quote=quote)
        return Response(s.FxConversionOutput(conversion).data, status=status.HTTP_201_CREATED)


# ---- credit --------------------------------------------------------------------------------


class CreditScoreView(SandboxAPIView):
    required_scopes = ("credit:read",)

    @extend_schema(
        operation_id="credit_scores_create",
        tags=["credit"],
        parameters=[IDEMPOTENCY],
        request=s.CreditScoreInput,
        responses={200: s.CreditScoreOutput, **ERRORS},
        description=(
            "Score an applicant with two models: a 300-850 bureau-style score and an internal A-E grade, each with "
            "the factors that explain it, largest first. The same inputs always give the same answer; nothing is "
            "stored."
        ),
        examples=[
            OpenApiExample(
                "An applicant",
                value={
                    "currency": "usd",
                    "annual_income": 8500000,
                    "monthly_debt_payments": 120000,
                    "requested_amount": 1500000,
                    "credit_history_months": 96,
                    "open_accounts": 4,
                    "credit_utilization": 22,
                    "delinquencies_24m": 0,
                    "inquiries_6m": 1,
                    "employment_months": 40,
                },
                request_only=True,
            ),
            OpenApiExample(
                "A score",
                value={
                    "object": "credit_score",
                    "bureau": {
                        "model": "bureau_v1",
                        "score": 756,
                        "range": [300, 850],
                        "factors": [{"code": "payment_history", "impact": 90, "description": "0 late payment(s)."}],
                    },
                    "internal": {
                        "model": "internal_v1",
                        "grade": "A",
                        "probability_of_default": 0.0146,
                        "factors": [{"code": "bureau_score", "impact": 190, "description": "Bureau score 756."}],
                    },
                    "decision": "approve",
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        return self.idempotent(request, lambda: self._score(request))

    def _score(self, request):
        data = dict(valid(s.CreditScoreInput, request.data))
        data.pop("currency")
        return Response({"object": "credit_score", **credit.score(credit.Applicant(**data))})


# ---- bank accounts -------------------------------------------------------------------------

BANK_EXAMPLE = OpenApiExample(
    "A bank account",
    value={
        "id": "ba_5tR8eW2qA9sD4fG7hJ1k",
        "object": "bank_account",
        "status": "pending_verification",
        "kind": "us_ach",
        "country": "US",
        "currency": "usd",
        "account_holder_name": "Jenny Rosen",
        "customer": None,
        "routing_number": "021000021",
        "account_number": "••••6789",
        "last4": "6789",
        "verification_method": "micro_deposits",
        "verification_attempts_remaining": 3,
        "verified_at": None,
        "livemode": False,
        "created_at": "2026-01-05T10:00:00Z",
    },
    response_only=True,
)


class BankAccountListCreateView(SandboxAPIView):
    required_scopes = {"GET": ("bank_accounts:read",), "POST": ("bank_accounts:write",)}

    @extend_schema(
        operation_id="bank_accounts_list",
        tags=["bank accounts"],
        parameters=[*LIST_PARAMETERS, sort_parameter("created_at"), OpenApiParameter("status", str)],
        responses={200: s.BankAccountOutput(many=True), **ERRORS},
        examples=[BANK_EXAMPLE],
    )
    def get(self, request):
        accounts = selectors.bank_account_list(
            owner=owner_from_request(request), status=request.query_params.get("status") or None
        )
        accounts = apply_sort(request, accounts, allowed={"created_at": "created_at"}, default="-created_at")
        return Response(paginated(request, accounts, lambda rows: s.BankAccountOutput(rows, many=True).data))

    @extend_schema(
        operation_id="bank_accounts_create",
        tags=["bank accounts"],
        parameters=[IDEMPOTENCY],
        request=s.BankAccountInput,
        responses={201: s.BankAccountOutput, **ERRORS},
        description=(
            "Add a bank account by IBAN (mod-97 checked) or US routing and account number (ABA checksum). "
            "Test routing numbers 110000000 and 110000013 verify instantly; others get two micro-deposits "
            "(32 and 45 in test mode) to confirm within three attempts. The number is stored encrypted and "
            "shown masked."
        ),
        examples=[
            OpenApiExample(
                "A US account",
                value={
                    "account_holder_name": "Jenny Rosen",
                    "routing_number": "021000021",
                    "account_number": "000123456789",
                },
                request_only=True,
            ),
            OpenApiExample(
                "An IBAN",
                value={"account_holder_name": "Jenny Rosen", "iban": "DE89 3704 0044 0532 0130 00"},
                request_only=True,
            ),
            BANK_EXAMPLE,
        ],
    )
    def post(self, request):
        return self.idempotent(request, lambda: self._create(request))

    def _create(self, request):
        owner = owner_from_request(request)
        data = dict(valid(s.BankAccountInput, request.data))
        data["customer"] = related(selectors.customer_get, owner, data.get("customer"), "customer")
        with service_errors():
            account = services.bank_account_create(owner=owner, **data)
        return Response(s.BankAccountOutput(account).data, status=status.HTTP_201_CREATED)


class BankAccountDetailView(SandboxAPIView):
    required_scopes = ("bank_accounts:read",)

    @extend_schema(
        operation_id="bank_accounts_retrieve",
        tags=["bank accounts"],
        responses={200: s.BankAccountOutput, **ERRORS},
        examples=[BANK_EXAMPLE],
    )
    def get(self, request, bank_account_id: str):
        account = selectors.bank_account_get(owner=owner_from_request(request), public_id=bank_account_id)
        return Response(s.BankAccountOutput(account).data)


class BankAccountVerifyView(SandboxAPIView):
    required_scopes = ("bank_accounts:write",)

    @extend_schema(
        operation_id="bank_accounts_verify",
        tags=["bank accounts"],
        parameters=[IDEMPOTENCY],
        request=s.BankAccountVerifyInput,
        responses={200: s.BankAccountOutput, **ERRORS},
        description="Confirm the two micro-deposits. A wrong pair is a 422; the third wrong pair locks the account.",
        examples=[OpenApiExample("Test-mode amounts", value={"amounts": [32, 45]}, request_only=True), BANK_EXAMPLE],
    )
    def post(self, request, bank_account_id: str):
        return self.idempotent(request, lambda: self._verify(request, bank_account_id))

    def _verify(self, request, bank_account_id: str):
        account = selectors.bank_account_get(owner=owner_from_request(request), public_id=bank_account_id)
        data = valid(s.BankAccountVerifyInput, request.data)
        account, matched = services.bank_account_verify(account=account, amounts=data["amounts"])
        if not matched:
            remaining = services.MICRO_DEPOSIT_ATTEMPTS - account.verification_attempts
            raise ProblemException(
                status_code=422,
                detail=(
                    f"The amounts do not match the micro-deposits; {remaining} attempt(s) left."
                    if remaining > 0
                    else "The amounts do not match; after three attempts the bank account is locked."
                ),
                slug="verification-failed",
                title="The verification did not match",
                errors={"amounts": ["These are not the amounts we sent."]},
            )
        return Response(s.BankAccountOutput(account).data)
