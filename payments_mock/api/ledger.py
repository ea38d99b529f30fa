"""The ledger (search and streaming export), reports, and the sandbox reset and sample data."""

from __future__ import annotations

import csv
import io
import json

from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response

from payments_mock import reports, selectors, services, xlsx
from payments_mock.api import serializers as s
from payments_mock.api.common import (
    ERRORS,
    IDEMPOTENCY,
    LIST_PARAMETERS,
    SandboxAPIView,
    sort_parameter,
    valid,
)
from payments_mock.selectors import owner_from_request
from portal.api import apply_sort, paginated
from portal.problems import ProblemException

# ---- transactions --------------------------------------------------------------------------

TRANSACTION_FILTERS = [
    OpenApiParameter("created_gte", str, description="ISO 8601 date-time."),
    OpenApiParameter("created_lte", str, description="ISO 8601 date-time."),
    OpenApiParameter("date_from", str, description="YYYY-MM-DD, inclusive."),
    OpenApiParameter("date_to", str, description="YYYY-MM-DD, inclusive."),
    OpenApiParameter("amount_gte", int, description="Signed minor units."),
    OpenApiParameter("amount_lte", int, description="Signed minor units."),
    OpenApiParameter("status", str, enum=["pending", "posted", "failed"]),
    OpenApiParameter("kind", str, enum=["charge", "refund", "fee", "fx_conversion", "payout"]),
    OpenApiParameter("currency", str),
    OpenApiParameter("customer", str, description="A cus_ id."),
    OpenApiParameter("q", str, description="Free text: description, object id or customer e-mail."),
]
EXPORT_COLUMNS = ("id", "created_at", "kind", "status", "amount", "currency", "customer", "source", "description")


def _transactions(request):
    from payments_mock.filters import TransactionFilter

    filterset = TransactionFilter(
        request.query_params, queryset=selectors.transaction_list(owner=owner_from_request(request))
    )
    if not filterset.is_valid():
        raise exceptions.ValidationError({name: list(messages) for name, messages in filterset.errors.items()})
    return apply_sort(
        request, filterset.qs, allowed={"created_at": "created_at", "amount": "amount"}, default="-created_at"
    )


class TransactionListView(SandboxAPIView):
    required_scopes = ("transactions:read",)

    @extend_schema(
        operation_id="transactions_list",
        tags=["transactions"],
        parameters=[*LIST_PARAMETERS, sort_parameter("created_at or amount"), *TRANSACTION_FILTERS],
        responses={200: s.TransactionOutput(many=True), **ERRORS},
        description="The ledger: one entry per money movement (charge, fee, refund, FX conversion, payout).",
        examples=[
            OpenApiExample(
                "A charge",
                value={
                    "id": "txn_1aB2cD3eF4gH5iJ6kL7m",
                    "object": "transaction",
                    "kind": "charge",
                    "status": "posted",
                    "amount": 1050,
                    "currency": "usd",
                    "customer": "cus_4fT0aQ8mZpL2vXc9Rk1s",
                    "source": "pay_2sJ9kQ4mT7vX1bN0cR5e",
                    "description": "Order 6735",
                    "livemode": False,
                    "created_at": "2026-01-05T10:00:00Z",
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        transactions = _transactions(request)
        return Response(paginated(request, transactions, lambda rows: s.TransactionOutput(rows, many=True).data))


class StreamingExport(StreamingHttpResponse):
    # PortalAPIView.finalize_response renders responses that are not rendered yet;
    # a stream is sent as it is produced, so there is nothing to render.
    is_rendered = True


class CsvDownload(HttpResponse):
    is_rendered = True  # complete already, like StreamingExport


class _Echo:
    def write(self, value: str) -> str:
        return value


def _export_rows(queryset):
    rows = queryset.values_list(
        "public_id",
        "created_at",
        "kind",
        "status",
        "amount",
        "currency",
        "customer__public_id",
        "source_id",
        "description",
    )
    # A server-side cursor on PostgreSQL: memory stays flat however many rows there are.
    return rows.iterator(chunk_size=2000)


def _csv_stream(queryset):
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for row in _export_rows(queryset):
        yield writer.writerow([row[0], row[1].isoformat(), *row[2:6], row[6] or "", row[7], _csv_safe(row[8])])


def _csv_safe(text: str) -> str:
    # Spreadsheet formula injection: a cell starting with = + - @ is treated as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _xlsx_stream(queryset):
    rows = ([row[0], row[1].isoformat(), *row[2:6], row[6] or "", row[7], row[8]] for row in _export_rows(queryset))
    return xlsx.stream_xlsx(EXPORT_COLUMNS, rows, sheet_name="Transactions")


def _json_stream(queryset):
    yield "["
    first = True
    for row in _export_rows(queryset):
        item = dict(zip(EXPORT_COLUMNS, [row[0], row[1].isoformat(), *row[2:]], strict=True))
        yield ("" if first else ",") + json.dumps(item, ensure_ascii=False)
        first = False
    yield "]"


class TransactionExportView(SandboxAPIView):
    required_scopes = ("transactions:read",)
    rate_limit_cost = 10

    @extend_schema(
        operation_id="transactions_export",
        tags=["transactions"],
        parameters=[
            OpenApiParameter("file_format", str, enum=["csv", "json", "xlsx"], description="Default csv."),
            sort_parameter("created_at or amount"),
            *TRANSACTION_FILTERS,
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/json"): {"type": "array", "items": {"type": "object"}},
            (200, xlsx.MIME_TYPE): OpenApiTypes.BINARY,
            **ERRORS,
        },
        description="Every matching ledger entry, streamed (constant memory on the server, however many rows).",
        examples=[
            OpenApiExample(
                "CSV",
                value=(
                    "id,created_at,kind,status,amount,currency,customer,source,description\r\n"
                    "txn_1aB2cD3eF4gH5iJ6kL7m,2026-01-05T10:00:00+00:00,charge,posted,1050,USD,"
                    "cus_4fT0aQ8mZpL2vXc9Rk1s,pay_2sJ9kQ4mT7vX1bN0cR5e,Order 6735\r\n"
                ),
                media_type="text/csv",
                response_only=True,
            )
        ],
    )
    def get(self, request):
        export_format = request.query_params.get("file_format", "csv")
        if export_format not in ("csv", "json", "xlsx"):
            raise exceptions.ValidationError({"file_format": ["Use csv, json or xlsx."]})
        transactions = _transactions(request)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        if export_format == "csv":
            response = StreamingExport(_csv_stream(transactions), content_type="text/csv; charset=utf-8")
        elif export_format == "xlsx":
            response = StreamingExport(_xlsx_stream(transactions), content_type=xlsx.MIME_TYPE)
        else:
            response = StreamingExport(_json_stream(transactions), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="transactions-{stamp}.{export_format}"'
        return response


# ---- the sandbox ---------------------------------------------------------------------------


def _require_test_mode(request) -> None:
    if owner_from_request(request).livemode:
        raise ProblemException(
            status_code=403,
            detail="Only test-mode data can be reset or generated; use a test key.",
            slug="forbidden",
            title="Forbidden",
        )


class SandboxResetView(SandboxAPIView):
    required_scopes = ("sandbox:reset",)
    rate_limit_cost = 10

    @extend_schema(
        operation_id="sandbox_reset",
        tags=["sandbox"],
        parameters=[IDEMPOTENCY],
        request=None,
        responses={200: s.SandboxResetOutput, **ERRORS},
        description="Delete every test-mode object of the organisation. Keys, live objects and webhooks stay.",
        examples=[
            OpenApiExample(
                "Reset",
                value={"object": "sandbox_reset", "deleted": {"customers": 8, "payments": 41, "refunds": 5}},
                response_only=True,
            )
        ],
    )
    def post(self, request):
        return self.idempotent(request, lambda: self._reset(request))

    def _reset(self, request):
        _require_test_mode(request)
        counts = services.sandbox_reset(organization_id=owner_from_request(request).organization_id)
        return Response({"object": "sandbox_reset", "deleted": counts})


class SandboxSampleDataView(SandboxAPIView):
    required_scopes = ("sandbox:reset",)
    rate_limit_cost = 20

    @extend_schema(
        operation_id="sandbox_sample_data",
        tags=["sandbox"],
        parameters=[IDEMPOTENCY],
        request=s.SampleDataInput,
        responses={201: s.SampleDataOutput, **ERRORS},
        description=(
            "Fill the test mode with realistic data made through the same services as the API: customers, "
            "months of card payments (some declined) and refunds. The same seed gives the same story."
        ),
        examples=[
            OpenApiExample("Three months", value={"customers": 8, "months": 3, "seed": 1}, request_only=True),
            OpenApiExample(
                "Created",
                value={"object": "sandbox_sample_data", "created": {"customers": 8, "payments": 52, "refunds": 6}},
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        return self.idempotent(request, lambda: self._generate(request))

    def _generate(self, request):
        _require_test_mode(request)
        data = valid(s.SampleDataInput, request.data)
        created = services.sandbox_generate(organization_id=owner_from_request(request).organization_id, **data)
        return Response({"object": "sandbox_sample_data", "created": created}, status=status.HTTP_201_CREATED)


# ---- reports -------------------------------------------------------------------------------


class ReportView(SandboxAPIView):
    required_scopes = ("reports:read",)
    rate_limit_cost = 5

    @extend_schema(
        operation_id="reports_retrieve",
        tags=["reports"],
        parameters=[
            OpenApiParameter("report", str, location=OpenApiParameter.PATH, enum=list(reports.REPORTS)),
            OpenApiParameter("date_from", str, description="YYYY-MM-DD; default 30 days before date_to."),
            OpenApiParameter("date_to", str, description="YYYY-MM-DD; default today."),
            OpenApiParameter("currency", str),
            OpenApiParameter("period", str, enum=["day", "week", "month"], description="cash_flow only."),
            OpenApiParameter("limit", int, description="top_customers only; at most 100."),
            OpenApiParameter("file_format", str, enum=["json", "csv"]),
        ],
        responses={200: s.ReportOutput, (200, "text/csv"): OpenApiTypes.STR, **ERRORS},
        description=(
            "revenue: gross, refunds, fees and net per day and currency. refunds: the refund rate per currency. "
            "cash_flow: money in, out and net per period and currency. top_customers: who paid the most. "
            "Amounts are minor units and never summed across currencies."
        ),
        examples=[
            OpenApiExample(
                "Revenue",
                value={
                    "object": "report",
                    "report": "revenue",
                    "date_from": "2026-01-01",
                    "date_to": "2026-01-31",
                    "currency": None,
                    "data": [
                        {
                            "date": "2026-01-05",
                            "currency": "USD",
                            "charges": 3,
                            "gross": 31500,
                            "refunds": 2500,
                            "fees": 914,
                            "net": 28086,
                        }
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, report: str):
        if report not in reports.BUILDERS:
            raise Http404("No such report.")
        query = dict(valid(s.ReportQuery, request.query_params))
        file_format = query.pop("file_format")
        rows = reports.BUILDERS[report](owner_from_request(request), **query)
        if file_format == "csv":
            out = io.StringIO()
            columns = list(rows[0]) if rows else ["no_data"]
            writer = csv.DictWriter(out, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _csv_safe(v) if isinstance(v, str) else v for k, v in row.items()})
            response = CsvDownload(out.getvalue(), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = (
                f'attachment; filename="{report}-{query["date_from"]}-{query["date_to"]}.csv"'
            )
            return response
        return Response(
            {
                "object": "report",
                "report": report,
                "date_from": query["date_from"],
                "date_to": query["date_to"],
                "currency": query.get("currency"),
                "data": rows,
            }
        )
