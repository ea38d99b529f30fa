"""Writes of marketplace revenue: partner accounts and payout details, closing a billing period
(charges, shares, fees, payouts, statements, e-mails), staff refunds and marking payouts paid.

The ledger is append-only. A period close is a single transaction under the period row's
lock, and every posting carries a unique `source_key`, so a second close (the beat task
firing twice, a staff member running the command again, two workers at once) finds the
period closed and changes nothing. docs/decisions.md, "Marketplace revenue".
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Count, Sum
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Organization, RoleName, User
from accounts.services import SYSTEM, RequestMeta, audit_record
from marketplace.models import BillingPeriod, LedgerEntry, PartnerAccount, Payout, Statement
from marketplace.selectors.revenue import (
    charge_list_for_month,
    month_before,
    month_start,
    share_split,
)
from marketplace.statements import Money, StatementDocument, render_csv, render_pdf
from payments_mock import banking
from portal.crypto import keyring
from portal.emails import absolute_url, send_templated_email
from portal.lib.money import MoneyError, format_money, parse_amount

Kind = LedgerEntry.Kind
Account = LedgerEntry.Account


# ---- partner accounts ----------------------------------------------------------------------


def partner_account_get(*, organization: Organization) -> PartnerAccount:
    """The partner's account, created on first use with the default 80 % share."""
    account, _ = PartnerAccount.objects.get_or_create(organization=organization)
    return account


def partner_share_update(
    *, account: PartnerAccount, share_basis_points: int, actor: User, meta: RequestMeta = SYSTEM
) -> PartnerAccount:
    """Staff change a partner's share; it applies to periods closed from now on."""
    if not actor.is_staff:
        raise PermissionDenied("Only staff change a partner's revenue share.")
    if isinstance(share_basis_points, bool) or not isinstance(share_basis_points, int):
        raise ValidationError({"share_basis_points": ["Give the share in basis points (8000 is 80 %)."]})
    if not 0 <= share_basis_points <= 10_000:
        raise ValidationError({"share_basis_points": ["The share is between 0 and 10000 basis points."]})
    before = PartnerAccount.objects.filter(pk=account.pk).values_list("share_basis_points", flat=True).first()
    account.share_basis_points = share_basis_points
    account.updated_at = timezone.now()
    if account.pk:
        account.save(update_fields=["share_basis_points", "updated_at"])
    else:
        account.save()
    audit_record(
        action="marketplace.partner_share_changed",
        actor=actor,
        organization=account.organization,
        meta=meta,
        target=account,
        details={"from": before, "to": share_basis_points},
    )
    return account


def _payout_associated_data(organization: Organization) -> bytes:
    # Binds the sealed details to their organisation: a token copied to another row won't open.
    return f"partner-payout:{organization.public_id}".encode()


def _clean_payout_details(*, account_holder: str, account_number: str, routing_number: str) -> dict:
    errors: dict[str, list[str]] = {}
    holder = " ".join((account_holder or "").split())
    if not holder:
        errors["account_holder"] = ["Give the name on the bank account."]
    elif len(holder) > 140:
        errors["account_holder"] = ["At most 140 characters."]
    raw = (account_number or "").strip()
    routing = banking.digits_only((routing_number or "").strip())
    details: dict = {}
    if not raw:
        errors["account_number"] = ["Give an IBAN, or a US account number with its routing number."]
    elif raw[:2].isalpha():
        iban = banking.iban_normalize(raw)
        problem = banking.iban_problem(iban)
        if problem:
            errors["account_number"] = [problem.replace(" in the sandbox", "")]
        elif routing:
            errors["routing_number"] = ["An IBAN needs no routing number; leave it empty."]
        details = {"kind": "iban", "iban": iban}
    else:
        number = banking.digits_only(raw)
        if not number.isascii() or not number.isdigit() or not 4 <= len(number) <= 17:
            errors["account_number"] = ["A US account number has 4 to 17 digits; an IBAN starts with its country."]
        if not routing:
            errors["routing_number"] = ["A US account number needs its 9-digit ABA routing number."]
        elif not banking.aba_valid(routing):
            errors["routing_number"] = ["That is not a valid ABA routing number (the checksum does not match)."]
        details = {"kind": "us", "routing_number": routing, "account_number": number}
    if errors:
        raise ValidationError(errors)
    return {"holder": holder, **details}


@transaction.atomic
def partner_payout_details_update(
    *,
    actor: Membership,
    account_holder: str,
    account_number: str,
    routing_number: str = "",
    meta: RequestMeta = SYSTEM,
) -> PartnerAccount:
    """Store where payouts go, sealed with the field keyring; only the last four stay readable."""
    organization = actor.organization
    if not organization.is_partner or not actor.has_perm("payouts:manage"):
        raise PermissionDenied("Your role does not include “payouts:manage”.")
    cleaned = _clean_payout_details(
        account_holder=account_holder, account_number=account_number, routing_number=routing_number
    )
    secret = cleaned["iban"] if cleaned["kind"] == "iban" else cleaned["account_number"]
    payload = json.dumps({k: v for k, v in cleaned.items() if k != "holder"}, sort_keys=True)
    account = partner_account_get(organization=organization)
    account = PartnerAccount.objects.select_for_update().get(pk=account.pk)
    account.payout_account_holder = cleaned["holder"]
    account.payout_details_encrypted = keyring().encrypt(payload, associated_data=_payout_associated_data(organization))
    account.payout_details_last4 = secret[-4:]
    account.updated_at = timezone.now()
    account.save(
        update_fields=["payout_account_holder", "payout_details_encrypted", "payout_details_last4", "updated_at"]
    )
    audit_record(
        action="marketplace.payout_details_changed",
        actor=actor.user,
        organization=organization,
        meta=meta,
        target=account,
        details={"kind": cleaned["kind"], "last4": secret[-4:]},
    )
    return account


def partner_payout_details_reveal(*, account: PartnerAccount) -> dict:
    """The decrypted payout details, for the payout run; never shown on a page."""
    if not account.payout_details_encrypted:
        return {}
    return json.loads(
        keyring().decrypt(
            account.payout_details_encrypted, associated_data=_payout_associated_data(account.organization)
        )
    )


# ---- closing a period ----------------------------------------------------------------------


@dataclass(frozen=True)
class CloseResult:
    period: BillingPeriod
    closed_now: bool  # False: it was closed already and nothing changed
    entries: int = 0
    payouts: int = 0
    statements: int = 0


def billing_period_close(*, month: date | None = None, now: datetime | None = None) -> CloseResult:
    """Close `month` (default: the previous month): post its charges with each partner's share and
    the platform's fee, pay out every positive partner balance, write the statements and e-mail
    them after commit. Closing a closed period returns at once and changes nothing."""
    now = now or timezone.now()
    current = month_start(now)
    month = month_start(month) if month is not None else month_before(current)
    if month >= current:
        raise ValidationError(f"{month:%Y-%m} has not ended yet; only a past month can be closed.")
    # Created outside the transaction so two closers race on one row, not on an insert.
    period, _ = BillingPeriod.objects.get_or_create(month=month)
    with transaction.atomic():
        period = BillingPeriod.objects.select_for_update().get(pk=period.pk)
        if period.status == BillingPeriod.Status.CLOSED:
            return CloseResult(period=period, closed_now=False)
        entries = _post_charges(period=period, now=now)
        payouts = _post_payouts(period=period, now=now)
        statements = _write_statements(period=period, now=now)
        period.status = BillingPeriod.Status.CLOSED
        period.closed_at = now
        period.save(update_fields=["status", "closed_at"])
        audit_record(
            action="marketplace.period_closed",
            actor=None,
            organization=None,
            target=period,
            details={
                "month": f"{month:%Y-%m}",
                "entries": entries,
                "payouts": len(payouts),
                "statements": len(statements),
            },
        )
        _email_statements(period=period, statements=statements)
    return CloseResult(
        period=period, closed_now=True, entries=entries, payouts=len(payouts), statements=len(statements)
    )


def _post_charges(*, period: BillingPeriod, now: datetime) -> int:
    charges = charge_list_for_month(month=period.month)
    partner_ids = {c.partner_id for c in charges}
    basis_points = {}
    for organization in Organization.objects.filter(pk__in=partner_ids):
        basis_points[organization.pk] = partner_account_get(organization=organization).share_basis_points
    existing = set(LedgerEntry.objects.filter(period=period).values_list("source_key", flat=True))
    label = f"{period.month:%Y-%m}"
    new = []
    for charge in charges:
        share, fee = share_split(charge.amount_minor, basis_points[charge.partner_id])
        for kind, account, organization_id, amount in (
            (Kind.CHARGE, Account.CUSTOMER, charge.customer_id, charge.amount_minor),
            (Kind.PARTNER_SHARE, Account.PARTNER, charge.partner_id, share),
            (Kind.PLATFORM_FEE, Account.PLATFORM, None, fee),
        ):
            source_key = f"{kind.value}:{label}:{charge.installation_public_id}"
            if source_key in existing:
                continue
            new.append(
                LedgerEntry(
                    kind=kind,
                    account=account,
                    organization_id=organization_id,
                    period=period,
                    integration_id=charge.integration_id,
                    installation_id=charge.installation_id,
                    amount_minor=amount,
                    currency=charge.currency,
                    quantity=charge.quantity,
                    description=charge.description[:200],
                    source_key=source_key,
                    created_at=now,
                )
            )
    LedgerEntry.objects.bulk_create(new, batch_size=500)
    return len(new)


def _post_payouts(*, period: BillingPeriod, now: datetime) -> list[Payout]:
    """A payout per partner and currency of its whole balance up to this period, when positive.

    A negative balance (clawbacks larger than new revenue) is not paid and carries forward.
    """
    balances = (
        LedgerEntry.objects.filter(account=Account.PARTNER, period__month__lte=period.month)
        .order_by()
        .values_list("organization_id", "organization__public_id", "currency")
        .annotate(total=Sum("amount_minor"))
    )
    payouts = []
    for organization_id, organization_public_id, currency, total in balances:
        if total <= 0:
            continue
        payout, created = Payout.objects.get_or_create(
            organization_id=organization_id,
            period=period,
            currency=currency,
            defaults={"amount_minor": total, "created_at": now},
        )
        if created:
            LedgerEntry.objects.create(
                kind=Kind.PAYOUT,
                account=Account.PARTNER,
                organization_id=organization_id,
                period=period,
                payout=payout,
                amount_minor=-total,
                currency=currency,
                description=f"Payout {payout.public_id}",
                source_key=f"payout:{period.month:%Y-%m}:{organization_public_id}:{currency}",
                created_at=now,
            )
        payouts.append(payout)
    return payouts


def _percent(basis_points: int) -> str:
    return f"{basis_points / 100:.2f} %"


_Documents = list[tuple[int, str, StatementDocument, Payout | None]]


def _partner_documents(*, period: BillingPeriod, now: datetime) -> _Documents:
    rows = (
        LedgerEntry.objects.filter(period=period, integration__isnull=False)
        .order_by()
        .values("integration_id", "integration__name", "integration__organization_id", "currency", "kind", "account")
        .annotate(total=Sum("amount_minor"), quantity=Sum("quantity"), n=Count("id"))
    )
    lines: dict[tuple[int, str], dict[int, dict]] = defaultdict(dict)
    for row in rows:
        key = (row["integration__organization_id"], row["currency"])
        line = lines[key].setdefault(
            row["integration_id"],
            dict.fromkeys(("installs", "calls", "charges", "fee", "share", "claw"), 0)
            | {"name": row["integration__name"]},
        )
        kind, account = row["kind"], row["account"]
        if kind == Kind.CHARGE:
            line["installs"] += row["n"]
            line["calls"] += row["quantity"]
            line["charges"] += row["total"]
        elif kind == Kind.PARTNER_SHARE:
            line["share"] += row["total"]
        elif kind == Kind.PLATFORM_FEE:
            line["fee"] += row["total"]
        elif kind == Kind.REFUND_CLAWBACK and account == Account.PARTNER:
            line["claw"] += row["total"]
        elif kind == Kind.REFUND_CLAWBACK and account == Account.PLATFORM:
            line["fee"] += row["total"]
    payouts = {(p.organization_id, p.currency): p for p in Payout.objects.filter(period=period)}
    carried = {
        (org_id, currency): total
        for org_id, currency, total in LedgerEntry.objects.filter(
            account=Account.PARTNER, period__month__lt=period.month
        )
        .order_by()
        .values_list("organization_id", "currency")
        .annotate(total=Sum("amount_minor"))
    }
    keys = set(lines) | set(payouts)
    organizations = Organization.objects.in_bulk({org_id for org_id, _ in keys})
    accounts = {a.organization_id: a for a in PartnerAccount.objects.filter(organization_id__in=organizations)}
    documents = []
    for org_id, currency in sorted(keys):
        organization = organizations[org_id]
        account = accounts.get(org_id)
        payout = payouts.get((org_id, currency))
        integration_lines = sorted(lines.get((org_id, currency), {}).values(), key=lambda line: line["name"])
        share = sum(line["share"] for line in integration_lines)
        claw = sum(line["claw"] for line in integration_lines)
        carry = carried.get((org_id, currency), 0)
        paid = payout.amount_minor if payout else 0
        summary = [("Charges through your integrations", sum(line["charges"] for line in integration_lines))]
        summary += [("Platform fee", sum(line["fee"] for line in integration_lines)), ("Your share", share)]
        if claw:
            summary.append(("Refund clawbacks", claw))
        if carry:
            summary.append(("Carried from earlier periods", carry))
        balance = share + claw + carry - paid
        if balance:
            summary.append(("Balance carried to the next period", balance))
        summary.append(("Payout", paid))
        notes = []
        if account is not None:
            notes.append(
                f"Revenue share: {_percent(account.share_basis_points)} to you, "
                f"{_percent(10_000 - account.share_basis_points)} platform fee."
            )
        if payout is not None:
            destination = (
                f" to the account ending {account.payout_details_last4}"
                if account is not None and account.payout_details_last4
                else "; add payout details in the partner area to receive it"
            )
            notes.append(f"Payout {payout.public_id} is {payout.get_status_display().lower()}{destination}.")
        document = StatementDocument(
            title="Partner statement",
            organization=organization.name,
            period=f"{period.month:%Y-%m}",
            currency=currency,
            reference="",
            issued_at=now,
            portal_name=settings.PORTAL_NAME,
            columns=["Integration", "Installs", "Calls", "Charges", "Platform fee", "Your share", "Clawbacks"],
            rows=[
                [
                    line["name"],
                    line["installs"],
                    line["calls"],
                    Money(line["charges"]),
                    Money(line["fee"]),
                    Money(line["share"]),
                    Money(line["claw"]),
                ]
                for line in integration_lines
            ],
            summary=summary,
            notes=notes,
        )
        documents.append((org_id, currency, document, payout))
    return documents


def _customer_documents(*, period: BillingPeriod, now: datetime) -> _Documents:
    entries = (
        LedgerEntry.objects.filter(period=period, account=Account.CUSTOMER)
        .select_related("organization", "integration__organization", "installation")
        .order_by("organization_id", "currency", "integration__name", "kind", "id")
    )
    grouped: dict[tuple[int, str], list[LedgerEntry]] = defaultdict(list)
    for entry in entries:
        grouped[(entry.organization_id, entry.currency)].append(entry)
    documents = []
    for (org_id, currency), items in sorted(grouped.items()):
        charges = sum(e.amount_minor for e in items if e.kind == Kind.CHARGE)
        refunds = sum(e.amount_minor for e in items if e.kind == Kind.REFUND)
        summary = [("Charges", charges)]
        if refunds:
            summary.append(("Refunds", refunds))
        summary.append(("Total", charges + refunds))
        rows = []
        for e in items:
            integration = e.integration
            rows.append(
                [
                    integration.name if integration else "",
                    integration.organization.name if integration else "",
                    e.installation.public_id if e.installation else "",
                    e.description,
                    e.quantity,
                    Money(e.amount_minor),
                ]
            )
        document = StatementDocument(
            title="Customer statement",
            organization=items[0].organization.name,
            period=f"{period.month:%Y-%m}",
            currency=currency,
            reference="",
            issued_at=now,
            portal_name=settings.PORTAL_NAME,
            columns=["Integration", "Partner", "Install", "Item", "Calls", "Amount"],
            rows=rows,
            summary=summary,
            notes=["Live-environment installs only; test-mode installs are free."],
        )
        documents.append((org_id, currency, document, None))
    return documents


def _write_statements(*, period: BillingPeriod, now: datetime) -> list[Statement]:
    existing = set(Statement.objects.filter(period=period).values_list("organization_id", "kind", "currency"))
    written = []
    for kind, documents in (
        (Statement.Kind.PARTNER, _partner_documents(period=period, now=now)),
        (Statement.Kind.CUSTOMER, _customer_documents(period=period, now=now)),
    ):
        for org_id, currency, document, payout in documents:
            if (org_id, kind, currency) in existing:
                continue
            statement = Statement(
                organization_id=org_id,
                period=period,
                kind=kind,
                currency=currency,
                total_minor=payout.amount_minor if payout else document.summary[-1][1],
                payout=payout,
                created_at=now,
            )
            document.reference = statement.public_id
            statement.csv_file.save(f"{kind}.csv", ContentFile(render_csv(document)), save=False)
            statement.pdf_file.save(f"{kind}.pdf", ContentFile(render_pdf(document)), save=False)
            statement.save()
            written.append(statement)
    return written


def _admin_emails(organization_ids: set[int]) -> dict[int, list[str]]:
    recipients: dict[int, list[str]] = defaultdict(list)
    for org_id, email in (
        Membership.objects.filter(organization_id__in=organization_ids, role__in=[RoleName.OWNER, RoleName.ADMIN])
        .order_by("organization_id", "user__email")
        .values_list("organization_id", "user__email")
    ):
        recipients[org_id].append(email)
    return recipients


def _email_statements(*, period: BillingPeriod, statements: list[Statement]) -> None:
    """One e-mail per organisation listing its new statements; queued on commit."""
    by_org: dict[int, list[Statement]] = defaultdict(list)
    for statement in statements:
        by_org[statement.organization_id].append(statement)
    recipients = _admin_emails(set(by_org))
    organizations = Organization.objects.in_bulk(set(by_org))
    url = absolute_url(reverse("marketplace:statements"))
    for org_id, items in sorted(by_org.items()):
        send_templated_email(
            to=recipients.get(org_id, []),
            template="statement_ready",
            context={
                "organization": organizations[org_id].name,
                "period": period.month.strftime("%B %Y"),
                "statements": [
                    {"kind": s.get_kind_display(), "total": format_money(s.total_minor, s.currency)} for s in items
                ],
                "statements_url": url,
            },
        )


# ---- refunds and payouts -------------------------------------------------------------------


def _open_period(now: datetime) -> BillingPeriod:
    period, _ = BillingPeriod.objects.get_or_create(month=month_start(now))
    period = BillingPeriod.objects.select_for_update().get(pk=period.pk)
    if period.status == BillingPeriod.Status.CLOSED:
        raise ValidationError(f"The period {period} is closed; nothing more can be posted to it.")
    return period


@transaction.atomic
def ledger_refund(
    *,
    charge_entry: LedgerEntry,
    amount_minor: int,
    actor: User,
    reason: str,
    now: datetime | None = None,
    meta: RequestMeta = SYSTEM,
) -> list[LedgerEntry]:
    """Refund part or all of a charge in the open period: REFUND to the customer, and the partner's
    and the platform's parts taken back (REFUND_CLAWBACK) in the charge's own proportion. Earlier
    rows are never edited; a refund is new rows."""
    if not actor.is_staff:
        raise PermissionDenied("Only staff refund marketplace charges.")
    now = now or timezone.now()
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationError({"reason": ["Say why the charge is refunded."]})
    try:
        amount = parse_amount(amount_minor)
    except MoneyError as error:
        raise ValidationError({"amount_minor": [str(error)]}) from None
    charge = LedgerEntry.objects.select_for_update().get(pk=charge_entry.pk)
    if charge.kind != Kind.CHARGE:
        raise ValidationError("Only a charge can be refunded.")
    prefix = f"refund:{charge.public_id}:"
    earlier = LedgerEntry.objects.filter(kind=Kind.REFUND, source_key__startswith=prefix).aggregate(
        total=Sum("amount_minor", default=0), n=Count("id")
    )
    left = charge.amount_minor + earlier["total"]
    if amount > left:
        raise ValidationError(
            {"amount_minor": [f"At most {format_money(left, charge.currency)} of this charge is left to refund."]}
        )
    share_key = Kind.PARTNER_SHARE.value + charge.source_key.removeprefix(Kind.CHARGE.value)
    share_entry = LedgerEntry.objects.get(source_key=share_key)
    # Cumulative rounding: the partner's part of everything refunded so far, less what was already
    # clawed back, so partial refunds that add up to the whole take back exactly the share.
    clawed = LedgerEntry.objects.filter(
        kind=Kind.REFUND_CLAWBACK, account=Account.PARTNER, source_key__startswith=f"clawback:{charge.public_id}:"
    ).aggregate(total=Sum("amount_minor", default=0))["total"]
    refunded_after = amount - earlier["total"]
    partner_part = refunded_after * share_entry.amount_minor // charge.amount_minor + clawed
    platform_part = amount - partner_part
    period = _open_period(now)
    n = earlier["n"] + 1
    common = {
        "period": period,
        "integration_id": charge.integration_id,
        "installation_id": charge.installation_id,
        "currency": charge.currency,
        "created_at": now,
    }
    description = f"Refund of {charge.description}: {reason}"[:200]
    entries = [
        LedgerEntry(
            kind=Kind.REFUND,
            account=Account.CUSTOMER,
            organization_id=charge.organization_id,
            amount_minor=-amount,
            description=description,
            source_key=f"{prefix}{n}",
            **common,
        ),
        LedgerEntry(
            kind=Kind.REFUND_CLAWBACK,
            account=Account.PARTNER,
            organization_id=share_entry.organization_id,
            amount_minor=-partner_part,
            description=description,
            source_key=f"clawback:{charge.public_id}:{n}",
            **common,
        ),
        LedgerEntry(
            kind=Kind.REFUND_CLAWBACK,
            account=Account.PLATFORM,
            organization_id=None,
            amount_minor=-platform_part,
            description=description,
            source_key=f"clawback-fee:{charge.public_id}:{n}",
            **common,
        ),
    ]
    LedgerEntry.objects.bulk_create(entries)
    audit_record(
        action="marketplace.charge_refunded",
        actor=actor,
        organization=charge.organization,
        meta=meta,
        target=charge,
        details={"amount_minor": amount, "currency": charge.currency, "reason": reason, "period": str(period)},
    )
    return entries


@transaction.atomic
def payout_mark_paid(*, payout: Payout, actor: User, now: datetime | None = None, meta: RequestMeta = SYSTEM) -> Payout:
    """Record that the bank transfer went out; the ledger already moved the money at close."""
    if not actor.is_staff:
        raise PermissionDenied("Only staff mark payouts paid.")
    payout = Payout.objects.select_for_update().get(pk=payout.pk)
    if payout.status == Payout.Status.PAID:
        return payout
    payout.status = Payout.Status.PAID
    payout.paid_at = now or timezone.now()
    payout.save(update_fields=["status", "paid_at"])
    audit_record(
        action="marketplace.payout_paid",
        actor=actor,
        organization=payout.organization,
        meta=meta,
        target=payout,
        details={"amount_minor": payout.amount_minor, "currency": payout.currency},
    )
    return payout
