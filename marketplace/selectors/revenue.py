"""Reads of marketplace revenue: what installs cost in a month (computed from the request log,
never stored until a period closes), the partner's next-payout preview and dashboard figures,
statements behind one chokepoint, and the staff's platform-revenue tables.

Charging rules (docs/decisions.md, "Marketplace revenue"): only live-environment installs are
charged, test mode is free. Calls count when they went through the install's grant, answered
with a status below 500, inside the calendar month (UTC). Per-call plans cost calls × price;
a monthly plan costs its price once for an install that was active at any moment of the month
(no proration), unless the plan has a free tier and the install's calls that month stayed
within it; free plans cost nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from accounts.models import Membership, Organization
from apikeys.models import Environment, RequestLog
from marketplace.models import (
    BillingPeriod,
    Installation,
    Integration,
    LedgerEntry,
    PartnerAccount,
    Payout,
    Review,
    Statement,
)

# ---- months ------------------------------------------------------------------------------


def month_start(value: date | datetime) -> date:
    if isinstance(value, datetime):
        value = value.astimezone(UTC) if timezone.is_aware(value) else value
    return date(value.year, value.month, 1)


def month_after(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_before(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """[start, end) of the calendar month in UTC."""
    following = month_after(month)
    return (
        datetime(month.year, month.month, 1, tzinfo=UTC),
        datetime(following.year, following.month, 1, tzinfo=UTC),
    )


def parse_month(text: str) -> date:
    """`YYYY-MM` as the first day of that month; ValueError otherwise."""
    try:
        parsed = datetime.strptime(text.strip(), "%Y-%m")
    except (AttributeError, ValueError):
        raise ValueError(f"{text!r} is not a month; write it as YYYY-MM.") from None
    return date(parsed.year, parsed.month, 1)


# ---- charges -------------------------------------------------------------------------------


def share_split(amount_minor: int, basis_points: int) -> tuple[int, int]:
    """(partner share, platform fee): the share rounds down, the fee is the rest, so they sum exactly."""
    share = amount_minor * basis_points // 10_000
    return share, amount_minor - share


@dataclass(frozen=True, slots=True)
class Charge:
    """What one live install costs its organisation for one month."""

    installation_id: int
    installation_public_id: str
    integration_id: int
    integration_name: str
    partner_id: int
    customer_id: int
    pricing_model: str
    quantity: int  # calls counted in the month (billed, for per-call plans)
    amount_minor: int
    currency: str

    @property
    def description(self) -> str:
        if self.pricing_model == Integration.Pricing.PER_CALL:
            return f"{self.integration_name}: {self.quantity} API calls"
        return f"{self.integration_name}: monthly fee"


def charge_list_for_month(*, month: date, partner: Organization | None = None) -> list[Charge]:
    """Every charge of `month` (two queries: the installs, then one grouped count of calls)."""
    start, end = month_bounds(month)
    installs = (
        Installation.objects.filter(environment=Environment.LIVE, installed_at__lt=end)
        .filter(Q(uninstalled_at__isnull=True) | Q(uninstalled_at__gte=start))
        .exclude(integration__pricing_model=Integration.Pricing.FREE)
        .select_related("integration")
        .order_by("id")
    )
    if partner is not None:
        installs = installs.filter(integration__organization=partner)
    installs = list(installs)
    grant_ids = [i.grant_id for i in installs if i.grant_id]
    calls: dict[int, int] = {}
    if grant_ids:
        calls = dict(
            RequestLog.objects.filter(grant_id__in=grant_ids, created_at__gte=start, created_at__lt=end, status__lt=500)
            .order_by()
            .values_list("grant_id")
            .annotate(n=Count("id"))
        )
    charges = []
    for install in installs:
        integration = install.integration
        used = calls.get(install.grant_id, 0) if install.grant_id else 0
        if integration.pricing_model == Integration.Pricing.PER_CALL:
            amount = used * integration.price_minor
        elif integration.free_tier_calls and used <= integration.free_tier_calls:
            amount = 0
        else:
            amount = integration.price_minor
        if amount <= 0:
            continue
        charges.append(
            Charge(
                installation_id=install.pk,
                installation_public_id=install.public_id,
                integration_id=integration.pk,
                integration_name=integration.name,
                partner_id=integration.organization_id,
                customer_id=install.organization_id,
                pricing_model=integration.pricing_model,
                quantity=used,
                amount_minor=amount,
                currency=integration.currency,
            )
        )
    return charges


def partner_share_basis_points(*, partner_ids: set[int]) -> dict[int, int]:
    """Each partner's share; partners without an account get the default (the account is made at close)."""
    found = dict(
        PartnerAccount.objects.filter(organization_id__in=partner_ids).values_list(
            "organization_id", "share_basis_points"
        )
    )
    return {pid: found.get(pid, PartnerAccount.DEFAULT_SHARE_BASIS_POINTS) for pid in partner_ids}


# ---- partner figures ---------------------------------------------------------------------


@dataclass
class IntegrationLine:
    integration_id: int
    name: str
    installs: int = 0
    quantity: int = 0
    charges_minor: int = 0
    share_minor: int = 0
    fee_minor: int = 0


@dataclass
class PayoutPreview:
    """A partner's payout for one currency and month, as the close computes it."""

    currency: str
    month: date
    lines: list[IntegrationLine] = field(default_factory=list)
    charges_minor: int = 0
    share_minor: int = 0
    fee_minor: int = 0
    adjustments_minor: int = 0  # refund clawbacks already posted in the month
    carried_minor: int = 0  # an unrecovered negative balance from earlier months

    @property
    def balance_minor(self) -> int:
        return self.share_minor + self.adjustments_minor + self.carried_minor

    @property
    def payout_minor(self) -> int:
        return max(self.balance_minor, 0)

    @property
    def revenue_minor(self) -> int:
        return self.share_minor + self.adjustments_minor


def _partner_balances_before(*, organization: Organization, month: date) -> dict[str, int]:
    return dict(
        LedgerEntry.objects.filter(
            account=LedgerEntry.Account.PARTNER, organization=organization, period__month__lt=month
        )
        .order_by()
        .values_list("currency")
        .annotate(total=Sum("amount_minor"))
    )


def _partner_posted_in(*, organization: Organization, month: date) -> dict[str, int]:
    """Partner-account movements already posted in `month`'s period other than payouts."""
    return dict(
        LedgerEntry.objects.filter(account=LedgerEntry.Account.PARTNER, organization=organization, period__month=month)
        .exclude(kind=LedgerEntry.Kind.PAYOUT)
        .order_by()
        .values_list("currency")
        .annotate(total=Sum("amount_minor"))
    )


def payout_preview_for_month(*, organization: Organization, month: date) -> list[PayoutPreview]:
    """What closing `month` would pay `organization` now, per currency; writes nothing.

    The same figures the close posts: shares of the computed charges, plus clawbacks already in
    the month, plus whatever negative balance earlier months left. Only meaningful for a month
    that is not closed yet.
    """
    charges = charge_list_for_month(month=month, partner=organization)
    basis_points = partner_share_basis_points(partner_ids={organization.pk})[organization.pk]
    previews: dict[str, PayoutPreview] = {}

    def preview(currency: str) -> PayoutPreview:
        if currency not in previews:
            previews[currency] = PayoutPreview(currency=currency, month=month)
        return previews[currency]

    lines: dict[tuple[str, int], IntegrationLine] = {}
    for charge in charges:
        share, fee = share_split(charge.amount_minor, basis_points)
        p = preview(charge.currency)
        p.charges_minor += charge.amount_minor
        p.share_minor += share
        p.fee_minor += fee
        key = (charge.currency, charge.integration_id)
        if key not in lines:
            lines[key] = IntegrationLine(charge.integration_id, charge.integration_name)
            p.lines.append(lines[key])
        line = lines[key]
        line.installs += 1
        line.quantity += charge.quantity
        line.charges_minor += charge.amount_minor
        line.share_minor += share
        line.fee_minor += fee
    for currency, total in _partner_posted_in(organization=organization, month=month).items():
        preview(currency).adjustments_minor += total
    for currency, total in _partner_balances_before(organization=organization, month=month).items():
        if total:
            preview(currency).carried_minor += total
    return sorted(previews.values(), key=lambda p: p.currency)


def next_payout_preview(*, organization: Organization, now: datetime | None = None) -> list[PayoutPreview]:
    """The payout the current, open month would make if it closed now; written nowhere."""
    return payout_preview_for_month(organization=organization, month=month_start(now or timezone.now()))


def partner_revenue_for_month(*, organization: Organization, month: date) -> dict[str, int]:
    """The partner's share less clawbacks in `month`, per currency: from the ledger once the
    period is closed, computed (the preview) while it is open."""
    period = BillingPeriod.objects.filter(month=month).first()
    if period is not None and period.status == BillingPeriod.Status.CLOSED:
        return _partner_posted_in(organization=organization, month=month)
    return {p.currency: p.revenue_minor for p in payout_preview_for_month(organization=organization, month=month)}


def partner_dashboard_get(*, organization: Organization, now: datetime | None = None) -> dict:
    """Installs, calls this month, revenue this month and last, pending payouts, recent reviews."""
    this_month = month_start(now or timezone.now())
    last_month = month_before(this_month)
    start, _end = month_bounds(this_month)
    installs = Installation.objects.filter(integration__organization=organization).aggregate(
        total=Count("id"), active=Count("id", filter=Q(status=Installation.Status.ACTIVE))
    )
    calls = RequestLog.objects.filter(
        grant__application__integration__organization=organization, created_at__gte=start
    ).aggregate(n=Count("id"))["n"]
    pending = list(
        Payout.objects.filter(organization=organization, status=Payout.Status.PENDING)
        .order_by("currency")
        .values("currency")
        .annotate(total=Sum("amount_minor"), count=Count("id"))
    )
    reviews = list(
        Review.objects.filter(integration__organization=organization, hidden_at__isnull=True)
        .select_related("integration", "organization")
        .order_by("-created_at", "-id")[:5]
    )
    preview = payout_preview_for_month(organization=organization, month=this_month)
    return {
        "this_month": this_month,
        "last_month": last_month,
        "installs_total": installs["total"],
        "installs_active": installs["active"],
        "calls_this_month": calls,
        "revenue_this_month": [(p.currency, p.revenue_minor) for p in preview],
        "revenue_last_month": sorted(partner_revenue_for_month(organization=organization, month=last_month).items()),
        "preview": preview,
        "pending_payouts": pending,
        "reviews": reviews,
        "integrations": list(
            Integration.objects.filter(organization=organization)
            .order_by("name")
            .only("public_id", "name", "status", "install_count", "pricing_model")
        ),
    }


# ---- statements and payouts --------------------------------------------------------------


def _statement_kinds(actor: Membership) -> list[str]:
    kinds = []
    if actor.organization.is_partner and actor.has_perm("payouts:read"):
        kinds.append(Statement.Kind.PARTNER)
    if actor.has_perm("billing:read"):
        kinds.append(Statement.Kind.CUSTOMER)
    return kinds


def statement_list_for_actor(*, actor: Membership) -> QuerySet[Statement]:
    return (
        Statement.objects.filter(organization_id=actor.organization_id, kind__in=_statement_kinds(actor))
        .select_related("period", "payout")
        .order_by("-period__month", "kind", "currency")
    )


def statement_get_for_actor(*, actor: Membership, public_id: str) -> Statement:
    """The one way to a statement: another organisation's (or a kind the role may not read) is a 404."""
    statement = statement_list_for_actor(actor=actor).filter(public_id=public_id).first()
    if statement is None:
        raise Http404("No such statement.")
    return statement


def payout_list_for_organization(*, organization: Organization) -> QuerySet[Payout]:
    return Payout.objects.filter(organization=organization).select_related("period").order_by("-period__month", "id")


# ---- staff -------------------------------------------------------------------------------


def platform_revenue_by_month() -> list[dict]:
    """Per month and currency: charges, refunds, platform fee (net of clawbacks), payouts (one query)."""
    kind, account = LedgerEntry.Kind, LedgerEntry.Account
    return list(
        LedgerEntry.objects.order_by()
        .values("period__month", "period__status", "currency")
        .annotate(
            charges=Sum("amount_minor", filter=Q(kind=kind.CHARGE), default=0),
            refunds=Sum("amount_minor", filter=Q(kind=kind.REFUND), default=0),
            fee=Sum("amount_minor", filter=Q(account=account.PLATFORM), default=0),
            share=Sum("amount_minor", filter=Q(account=account.PARTNER) & ~Q(kind=kind.PAYOUT), default=0),
            payouts=Sum("amount_minor", filter=Q(kind=kind.PAYOUT), default=0),
        )
        .order_by("-period__month", "currency")
    )


def platform_revenue_by_partner() -> list[dict]:
    """Per partner and currency, all time: charges through its integrations, its share, our fee (one query)."""
    kind, account = LedgerEntry.Kind, LedgerEntry.Account
    return list(
        LedgerEntry.objects.filter(integration__isnull=False)
        .order_by()
        .values("integration__organization__public_id", "integration__organization__name", "currency")
        .annotate(
            charges=Sum("amount_minor", filter=Q(kind=kind.CHARGE), default=0),
            refunds=Sum("amount_minor", filter=Q(kind=kind.REFUND), default=0),
            share=Sum("amount_minor", filter=Q(account=account.PARTNER), default=0),
            fee=Sum("amount_minor", filter=Q(account=account.PLATFORM), default=0),
        )
        .order_by("-fee", "integration__organization__name", "currency")
    )


def payout_totals_by_partner() -> dict[tuple[str, str], dict]:
    """Per (partner public id, currency): paid and pending payout totals (one query)."""
    rows = (
        Payout.objects.order_by()
        .values("organization__public_id", "currency")
        .annotate(
            paid=Sum("amount_minor", filter=Q(status=Payout.Status.PAID), default=0),
            pending=Sum("amount_minor", filter=Q(status=Payout.Status.PENDING), default=0),
        )
    )
    totals: dict[tuple[str, str], dict] = defaultdict(dict)
    for row in rows:
        totals[(row["organization__public_id"], row["currency"])] = row
    return dict(totals)
