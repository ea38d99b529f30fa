"""Reports over the ledger: revenue by day and currency, refund rate, cash flow, top customers.

Every figure is computed in the database from `Transaction` rows (one aggregate query
per report), per currency: amounts in different currencies are never added together.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate, TruncMonth, TruncWeek
from django.utils import timezone

from payments_mock.models import Transaction
from payments_mock.selectors import Owner, scoped

REPORTS = ("revenue", "refunds", "cash_flow", "top_customers")
PERIODS = {"day": TruncDate, "week": TruncWeek, "month": TruncMonth}
MAX_RANGE_DAYS = 366


def _range(owner: Owner, date_from: date, date_to: date, currency: str | None = None):
    start = timezone.make_aware(datetime.combine(date_from, time.min), timezone.get_current_timezone())
    end = timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min), timezone.get_current_timezone())
    rows = scoped(Transaction, owner).filter(created_at__gte=start, created_at__lt=end)
    if currency:
        rows = rows.filter(currency=currency)
    return rows.exclude(status=Transaction.Status.FAILED)


def _sum(kind: str):
    return Sum("amount", filter=Q(kind=kind), default=0)


def revenue(owner: Owner, date_from: date, date_to: date, currency: str | None = None, **_) -> list[dict]:
    """Per day and currency: gross charges, refunds, fees and what is left."""
    rows = (
        _range(owner, date_from, date_to, currency)
        .annotate(day=TruncDate("created_at"))
        .values("day", "currency")
        .annotate(
            gross=_sum(Transaction.Kind.CHARGE),
            refunds=_sum(Transaction.Kind.REFUND),
            fees=_sum(Transaction.Kind.FEE),
            charges=Count("id", filter=Q(kind=Transaction.Kind.CHARGE)),
        )
        .order_by("day", "currency")
    )
    return [
        {
            "date": row["day"].isoformat(),
            "currency": row["currency"],
            "charges": row["charges"],
            "gross": row["gross"],
            "refunds": -row["refunds"],
            "fees": -row["fees"],
            "net": row["gross"] + row["refunds"] + row["fees"],
        }
        for row in rows
        if row["charges"] or row["refunds"] or row["fees"]
    ]


def refunds(owner: Owner, date_from: date, date_to: date, currency: str | None = None, **_) -> list[dict]:
    """Per currency: how much of what was charged went back, by amount and by count."""
    rows = (
        _range(owner, date_from, date_to, currency)
        .values("currency")
        .annotate(
            charged=_sum(Transaction.Kind.CHARGE),
            refunded=_sum(Transaction.Kind.REFUND),
            charges=Count("id", filter=Q(kind=Transaction.Kind.CHARGE)),
            refund_count=Count("id", filter=Q(kind=Transaction.Kind.REFUND)),
        )
        .order_by("currency")
    )
    out = []
    for row in rows:
        if not row["charges"] and not row["refund_count"]:
            continue
        charged, refunded = row["charged"], -row["refunded"]
        out.append(
            {
                "currency": row["currency"],
                "charged": charged,
                "refunded": refunded,
                "charges": row["charges"],
                "refunds": row["refund_count"],
                "refund_rate": round(refunded / charged, 4) if charged else None,
            }
        )
    return out


def cash_flow(
    owner: Owner, date_from: date, date_to: date, currency: str | None = None, period: str = "day", **_
) -> list[dict]:
    """Per period and currency: money in, money out and the net."""
    rows = (
        _range(owner, date_from, date_to, currency)
        .annotate(period=PERIODS[period]("created_at"))
        .values("period", "currency")
        .annotate(
            money_in=Sum("amount", filter=Q(amount__gt=0), default=0),
            money_out=Sum("amount", filter=Q(amount__lt=0), default=0),
        )
        .order_by("period", "currency")
    )
    return [
        {
            "period": (row["period"].date() if isinstance(row["period"], datetime) else row["period"]).isoformat(),
            "currency": row["currency"],
            "in": row["money_in"],
            "out": -row["money_out"],
            "net": row["money_in"] + row["money_out"],
        }
        for row in rows
    ]


def top_customers(
    owner: Owner, date_from: date, date_to: date, currency: str | None = None, limit: int = 10, **_
) -> list[dict]:
    """The customers who paid the most (charges less refunds), per currency."""
    rows = (
        _range(owner, date_from, date_to, currency)
        .filter(customer__isnull=False, kind__in=[Transaction.Kind.CHARGE, Transaction.Kind.REFUND])
        .values("customer__public_id", "customer__name", "customer__email", "currency")
        .annotate(net=Sum("amount"), charges=Count("id", filter=Q(kind=Transaction.Kind.CHARGE)))
        .order_by("-net", "customer__public_id")[:limit]
    )
    return [
        {
            "customer": row["customer__public_id"],
            "name": row["customer__name"],
            "email": row["customer__email"],
            "currency": row["currency"],
            "net": row["net"],
            "charges": row["charges"],
        }
        for row in rows
    ]


BUILDERS = {"revenue": revenue, "refunds": refunds, "cash_flow": cash_flow, "top_customers": top_customers}
