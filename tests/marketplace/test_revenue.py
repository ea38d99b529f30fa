"""Revenue: what installs are charged, how charges split between partner and platform, closing a
billing period (once, however often it runs), payouts, refunds and the next-payout preview."""

from __future__ import annotations

import io
import threading
from datetime import UTC, date, datetime

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import AuditLog
from marketplace import selectors, services
from marketplace.models import BillingPeriod, LedgerEntry, PartnerAccount, Payout, Statement
from marketplace.tasks import close_billing_period
from tests.factories import make_org, make_user
from tests.marketplace.revenue_factories import (
    AFTER_MONTH,
    BEFORE_MONTH,
    CLOSE_AT,
    IN_MONTH,
    MONTH,
    PREVIEW_AT,
    calls,
    install,
    paid_integration,
)

Kind = LedgerEntry.Kind


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def shop(partners):
    """Ledgerly's per-call integration (3 cents a call) and a customer, Acme, with an owner."""
    customer_owner = make_user("owner@acme.test")
    customer = make_org("Acme", owner=customer_owner)
    integration = paid_integration(partners.membership(partners.owner), price_minor=3)
    return integration, customer


def _amounts(kind: str) -> list[int]:
    return sorted(LedgerEntry.objects.filter(kind=kind).values_list("amount_minor", flat=True))


# ---- the split ---------------------------------------------------------------------------------


@pytest.mark.parametrize("basis_points", [8000, 7350, 0, 10_000, 1])
@pytest.mark.parametrize("amount", [1, 3, 7, 99, 101, 12_345, 999_999_937])
def test_the_partner_share_and_the_platform_fee_sum_to_the_charge_exactly(amount, basis_points):
    share, fee = selectors.share_split(amount, basis_points)
    assert share + fee == amount
    assert share == amount * basis_points // 10_000
    assert 0 <= share <= amount and fee >= 0


def test_an_odd_charge_at_80_percent_gives_the_rounding_to_the_platform():
    assert selectors.share_split(101, 8000) == (80, 21)
    assert selectors.share_split(7, 7350) == (5, 2)


# ---- what is charged ---------------------------------------------------------------------------


def test_per_call_pricing_charges_calls_under_500_inside_the_month(shop):
    integration, customer = shop
    installation = install(integration, customer)
    calls(installation, 7)
    calls(installation, 2, status=404)  # the caller's error still used the integration
    calls(installation, 4, status=503)  # our failure is not billed
    calls(installation, 5, at=BEFORE_MONTH)
    calls(installation, 6, at=AFTER_MONTH)

    [charge] = selectors.charge_list_for_month(month=MONTH)

    assert (charge.quantity, charge.amount_minor, charge.currency) == (9, 27, "USD")
    assert charge.customer_id == customer.pk and charge.partner_id == integration.organization_id


def test_a_live_install_without_calls_costs_nothing_on_a_per_call_plan(shop):
    integration, customer = shop
    install(integration, customer)
    assert selectors.charge_list_for_month(month=MONTH) == []


def test_test_mode_installs_are_never_charged(shop, partners):
    integration, customer = shop
    calls(install(integration, customer, environment="test"), 50)
    monthly = paid_integration(
        partners.membership(partners.owner), name="Payroll", pricing_model="monthly", price_minor=4900
    )
    install(monthly, customer, environment="test")
    assert selectors.charge_list_for_month(month=MONTH) == []


def test_a_monthly_plan_with_a_free_tier_is_free_up_to_the_tier_and_full_price_above(partners):
    monthly = paid_integration(
        partners.membership(partners.owner),
        name="Payroll",
        pricing_model="monthly",
        price_minor=4900,
        free_tier_calls=100,
    )
    light, heavy, idle = make_org("Light"), make_org("Heavy"), make_org("Idle")
    calls(install(monthly, light), 100)
    calls(install(monthly, heavy), 101)
    install(monthly, idle)

    charges = {c.customer_id: c for c in selectors.charge_list_for_month(month=MONTH)}

    assert set(charges) == {heavy.pk}
    assert (charges[heavy.pk].amount_minor, charges[heavy.pk].quantity) == (4900, 101)


def test_a_monthly_plan_without_a_free_tier_is_charged_even_when_unused(partners):
    monthly = paid_integration(
        partners.membership(partners.owner), name="Payroll", pricing_model="monthly", price_minor=4900
    )
    customer = make_org("Acme")
    install(monthly, customer)
    [charge] = selectors.charge_list_for_month(month=MONTH)
    assert charge.amount_minor == 4900 and charge.quantity == 0


def test_a_monthly_install_active_for_part_of_the_month_pays_the_full_fee_once(partners):
    monthly = paid_integration(
        partners.membership(partners.owner), name="Payroll", pricing_model="monthly", price_minor=4900
    )
    left_mid_month = make_org("Leaver")
    joined_mid_month = make_org("Joiner")
    left_before, joined_after = make_org("Gone"), make_org("Later")
    install(monthly, left_mid_month, uninstalled_at=datetime(2025, 3, 15, tzinfo=UTC))
    install(monthly, joined_mid_month, installed_at=datetime(2025, 3, 31, 23, 59, tzinfo=UTC))
    install(monthly, left_before, uninstalled_at=datetime(2025, 2, 28, 23, 59, tzinfo=UTC))
    install(monthly, joined_after, installed_at=datetime(2025, 4, 1, tzinfo=UTC))

    charges = selectors.charge_list_for_month(month=MONTH)

    assert sorted(c.customer_id for c in charges) == sorted([left_mid_month.pk, joined_mid_month.pk])
    assert all(c.amount_minor == 4900 for c in charges)


def test_free_integrations_cost_nothing(partners):
    free = paid_integration(partners.membership(partners.owner), name="Free", pricing_model="free", price_minor=0)
    calls(install(free, make_org("Acme")), 10)
    assert selectors.charge_list_for_month(month=MONTH) == []


# ---- closing a period --------------------------------------------------------------------------


def test_closing_posts_charge_share_and_fee_and_pays_the_partner_out(
    shop, partners, django_capture_on_commit_callbacks
):
    integration, customer = shop
    PartnerAccount.objects.create(organization=partners.org, share_basis_points=7350)
    calls(install(integration, customer), 33)  # 99 cents
    calls(install(integration, make_org("Globex")), 1)  # 3 cents

    with django_capture_on_commit_callbacks(execute=True):
        result = services.billing_period_close(month=MONTH, now=CLOSE_AT)

    assert result.closed_now and result.payouts == 1
    period = BillingPeriod.objects.get(month=MONTH)
    assert period.status == BillingPeriod.Status.CLOSED and period.closed_at == CLOSE_AT
    assert _amounts(Kind.CHARGE) == [3, 99]
    assert _amounts(Kind.PARTNER_SHARE) == [2, 72]  # floor(3 × .735), floor(99 × .735)
    assert _amounts(Kind.PLATFORM_FEE) == [1, 27]
    for charge in LedgerEntry.objects.filter(kind=Kind.CHARGE):
        siblings = LedgerEntry.objects.filter(installation=charge.installation).exclude(pk=charge.pk)
        assert sum(e.amount_minor for e in siblings) == charge.amount_minor
        assert {e.account for e in siblings} == {"partner", "platform"}
        assert charge.account == "customer" and charge.organization_id == charge.installation.organization_id
    payout = Payout.objects.get()
    assert (payout.organization, payout.amount_minor, payout.currency, payout.status) == (
        partners.org,
        74,
        "USD",
        "pending",
    )
    assert LedgerEntry.objects.get(kind=Kind.PAYOUT).amount_minor == -74
    # Balances are derived: after the payout the partner's balance is zero.
    assert sum(LedgerEntry.objects.filter(account="partner").values_list("amount_minor", flat=True)) == 0
    assert Statement.objects.filter(kind="partner").count() == 1
    assert Statement.objects.filter(kind="customer").count() == 2
    assert AuditLog.objects.filter(action="marketplace.period_closed").count() == 1
    # Globex has no owner or admin to tell; Acme's owner and Ledgerly's owner hear once each.
    assert sorted(m.to[0] for m in mail.outbox) == ["owner@acme.test", "owner@ledgerly.test"]
    assert "statement" in mail.outbox[0].subject and "/marketplace/statements/" in mail.outbox[0].body


def test_a_partner_without_an_account_gets_one_with_the_default_80_percent(shop, partners):
    integration, customer = shop
    calls(install(integration, customer), 67)  # 201 cents
    services.billing_period_close(month=MONTH, now=CLOSE_AT)
    assert PartnerAccount.objects.get(organization=partners.org).share_basis_points == 8000
    assert _amounts(Kind.PARTNER_SHARE) == [160]
    assert _amounts(Kind.PLATFORM_FEE) == [41]


def _snapshot() -> dict:
    return {
        "entries": sorted(LedgerEntry.objects.values_list("source_key", "amount_minor")),
        "payouts": sorted(Payout.objects.values_list("public_id", "amount_minor", "status")),
        "statements": sorted(
            (s.public_id, s.csv_file.name, s.csv_file.read(), s.pdf_file.name, s.pdf_file.read())
            for s in Statement.objects.all()
        ),
        "periods": list(BillingPeriod.objects.values_list("month", "status", "closed_at")),
    }


def test_closing_a_period_twice_changes_nothing(shop, partners, django_capture_on_commit_callbacks):
    integration, customer = shop
    calls(install(integration, customer), 10)
    with django_capture_on_commit_callbacks(execute=True):
        first = services.billing_period_close(month=MONTH, now=CLOSE_AT)
    before = _snapshot()
    sent = len(mail.outbox)
    # New usage recorded late must not sneak into a closed month either.
    calls(install(integration, make_org("Latecomer")), 5)

    with django_capture_on_commit_callbacks(execute=True):
        second = services.billing_period_close(month=MONTH, now=datetime(2025, 4, 2, tzinfo=UTC))

    assert first.closed_now and not second.closed_now
    assert _snapshot() == before
    assert len(mail.outbox) == sent == 2
    assert len(before["entries"]) == 4 and len(before["statements"]) == 2


def test_the_beat_task_and_the_command_close_once(shop, django_capture_on_commit_callbacks):
    integration, customer = shop
    calls(install(integration, customer), 10)
    with django_capture_on_commit_callbacks(execute=True):
        assert close_billing_period.delay(month="2025-03").get() == "2025-03 closed"
        assert close_billing_period.delay(month="2025-03").get() == "2025-03 already closed"
    out = io.StringIO()
    call_command("close_period", "--month", "2025-03", stdout=out)
    assert "already closed" in out.getvalue()
    assert LedgerEntry.objects.count() == 4 and Payout.objects.count() == 1
    assert len(mail.outbox) == 2


def test_the_command_refuses_a_malformed_or_unfinished_month(db):
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("close_period", "--month", "March")
    with pytest.raises(CommandError, match="has not ended"):
        call_command("close_period", "--month", "2999-01")
    assert not BillingPeriod.objects.filter(status="closed").exists()


def test_the_open_month_cannot_be_closed(db):
    with pytest.raises(ValidationError, match="has not ended"):
        services.billing_period_close(month=date(2025, 4, 1), now=datetime(2025, 4, 30, tzinfo=UTC))


def test_closing_defaults_to_the_previous_month(shop):
    integration, customer = shop
    calls(install(integration, customer), 10)
    result = services.billing_period_close(now=datetime(2025, 4, 1, 0, 30, tzinfo=UTC))
    assert result.period.month == MONTH and LedgerEntry.objects.filter(kind=Kind.CHARGE).count() == 1


def test_the_beat_schedule_closes_monthly_on_the_first_at_half_past_midnight(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["marketplace-close-billing-period"]
    assert entry["task"] == "marketplace.tasks.close_billing_period"
    schedule = entry["schedule"]
    assert schedule.day_of_month == {1} and schedule.hour == {0} and schedule.minute == {30}


def test_an_empty_month_closes_without_payouts_or_statements(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = services.billing_period_close(month=MONTH, now=CLOSE_AT)
    assert result.closed_now and (result.entries, result.payouts, result.statements) == (0, 0, 0)
    assert mail.outbox == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_closes_post_one_set_of_entries(partners):
    integration = paid_integration(partners.membership(partners.owner), price_minor=3)
    for name in ("Acme", "Globex", "Initech"):
        calls(install(integration, make_org(name)), 11)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def close():
        try:
            barrier.wait(timeout=10)
            results.append(services.billing_period_close(month=MONTH, now=CLOSE_AT))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=close) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(r.closed_now for r in results) == [False, True]
    assert LedgerEntry.objects.count() == 3 * 3 + 1
    assert Payout.objects.count() == 1 and Statement.objects.count() == 4
    assert BillingPeriod.objects.get(month=MONTH).status == "closed"


# ---- preview -----------------------------------------------------------------------------------


def test_the_preview_matches_what_the_close_then_posts(shop, partners):
    integration, customer = shop
    PartnerAccount.objects.create(organization=partners.org, share_basis_points=7350)
    monthly = paid_integration(
        partners.membership(partners.owner), name="Payroll", pricing_model="monthly", price_minor=4999
    )
    calls(install(integration, customer), 37)
    install(monthly, customer)
    install(monthly, make_org("Globex"), uninstalled_at=datetime(2025, 3, 3, tzinfo=UTC))

    [preview] = selectors.next_payout_preview(organization=partners.org, now=PREVIEW_AT)
    written_before = (LedgerEntry.objects.count(), Payout.objects.count(), BillingPeriod.objects.count())
    services.billing_period_close(month=MONTH, now=CLOSE_AT)

    assert written_before == (0, 0, 0)
    payout = Payout.objects.get(organization=partners.org)
    assert preview.payout_minor == payout.amount_minor
    assert preview.share_minor == sum(_amounts(Kind.PARTNER_SHARE))
    assert preview.fee_minor == sum(_amounts(Kind.PLATFORM_FEE))
    assert preview.charges_minor == 37 * 3 + 2 * 4999
    assert {line.name: line.installs for line in preview.lines} == {"Ledger Sync": 1, "Payroll": 2}


def test_another_partners_preview_does_not_include_ledgerlys_charges(shop, partners):
    integration, customer = shop
    calls(install(integration, customer), 10)
    assert selectors.next_payout_preview(organization=partners.other_org, now=PREVIEW_AT) == []


# ---- refunds -----------------------------------------------------------------------------------


def test_a_refund_posts_new_rows_in_the_open_period_and_claws_back_proportionally(shop, partners):
    integration, customer = shop
    calls(install(integration, customer), 33)  # 99 cents: share 79, fee 20
    services.billing_period_close(month=MONTH, now=CLOSE_AT)
    charge = LedgerEntry.objects.get(kind=Kind.CHARGE)
    old_rows = sorted(LedgerEntry.objects.values_list("public_id", "amount_minor", "period_id"))

    services.ledger_refund(
        charge_entry=charge,
        amount_minor=50,
        actor=partners.staff,
        reason="Duplicate calls",
        now=datetime(2025, 4, 10, tzinfo=UTC),
    )

    april = BillingPeriod.objects.get(month=date(2025, 4, 1))
    assert april.status == "open"
    refund = LedgerEntry.objects.get(kind=Kind.REFUND)
    clawbacks = dict(LedgerEntry.objects.filter(kind=Kind.REFUND_CLAWBACK).values_list("account", "amount_minor"))
    assert refund.amount_minor == -50 and refund.period == april and refund.organization == customer
    assert clawbacks == {"partner": -39, "platform": -11}  # floor(50 × 79 / 99), the rest
    assert (
        sorted(
            LedgerEntry.objects.filter(public_id__in=[r[0] for r in old_rows]).values_list(
                "public_id", "amount_minor", "period_id"
            )
        )
        == old_rows
    )
    assert AuditLog.objects.filter(action="marketplace.charge_refunded", actor=partners.staff).exists()

    with pytest.raises(ValidationError, match="left to refund"):
        services.ledger_refund(charge_entry=charge, amount_minor=50, actor=partners.staff, reason="Again")
    services.ledger_refund(charge_entry=charge, amount_minor=49, actor=partners.staff, reason="The rest")
    partner_clawed = sum(
        LedgerEntry.objects.filter(kind=Kind.REFUND_CLAWBACK, account="partner").values_list("amount_minor", flat=True)
    )
    assert partner_clawed == -79  # a full refund takes back exactly the share


def test_a_clawback_larger_than_new_revenue_carries_forward_instead_of_paying_out(shop, partners):
    integration, customer = shop
    calls(install(integration, customer, uninstalled_at=datetime(2025, 3, 20, tzinfo=UTC)), 33)
    services.billing_period_close(month=MONTH, now=CLOSE_AT)
    charge = LedgerEntry.objects.get(kind=Kind.CHARGE)
    services.ledger_refund(
        charge_entry=charge,
        amount_minor=99,
        actor=partners.staff,
        reason="Outage",
        now=datetime(2025, 4, 5, tzinfo=UTC),
    )

    [april_preview] = selectors.next_payout_preview(organization=partners.org, now=datetime(2025, 4, 20, tzinfo=UTC))
    services.billing_period_close(month=date(2025, 4, 1), now=datetime(2025, 5, 1, tzinfo=UTC))

    assert april_preview.adjustments_minor == -79 and april_preview.payout_minor == 0
    assert Payout.objects.count() == 1  # only March's
    [may_preview] = selectors.next_payout_preview(organization=partners.org, now=datetime(2025, 5, 2, tzinfo=UTC))
    assert may_preview.carried_minor == -79


def test_only_staff_refund_and_only_charges(shop, partners):
    integration, customer = shop
    calls(install(integration, customer), 10)
    services.billing_period_close(month=MONTH, now=CLOSE_AT)
    charge = LedgerEntry.objects.get(kind=Kind.CHARGE)
    with pytest.raises(PermissionDenied):
        services.ledger_refund(charge_entry=charge, amount_minor=1, actor=partners.owner, reason="Please")
    with pytest.raises(ValidationError, match="Only a charge"):
        services.ledger_refund(
            charge_entry=LedgerEntry.objects.get(kind=Kind.PAYOUT), amount_minor=1, actor=partners.staff, reason="x"
        )
    with pytest.raises(ValidationError):
        services.ledger_refund(charge_entry=charge, amount_minor=0, actor=partners.staff, reason="Zero")
    with pytest.raises(ValidationError):
        services.ledger_refund(charge_entry=charge, amount_minor=1, actor=partners.staff, reason="  ")
    assert not LedgerEntry.objects.filter(kind=Kind.REFUND).exists()


def test_a_refund_cannot_post_into_a_closed_period(shop, partners):
    integration, customer = shop
    calls(install(integration, customer), 10)
    services.billing_period_close(month=MONTH, now=CLOSE_AT)
    charge = LedgerEntry.objects.get(kind=Kind.CHARGE)
    with pytest.raises(ValidationError, match="closed"):
        services.ledger_refund(charge_entry=charge, amount_minor=1, actor=partners.staff, reason="Late", now=IN_MONTH)


# ---- payouts and shares ------------------------------------------------------------------------


def test_staff_mark_a_payout_paid_once(shop, partners):
    integration, customer = shop
    calls(install(integration, customer), 10)
    services.billing_period_close(month=MONTH, now=CLOSE_AT)
    payout = Payout.objects.get()
    with pytest.raises(PermissionDenied):
        services.payout_mark_paid(payout=payout, actor=partners.owner)
    services.payout_mark_paid(payout=payout, actor=partners.staff)
    services.payout_mark_paid(payout=payout, actor=partners.staff)
    payout.refresh_from_db()
    assert payout.status == "paid" and payout.paid_at is not None
    assert AuditLog.objects.filter(action="marketplace.payout_paid").count() == 1


def test_staff_change_a_partners_share_with_an_audit_record(partners):
    account = services.partner_account_get(organization=partners.org)
    with pytest.raises(PermissionDenied):
        services.partner_share_update(account=account, share_basis_points=9000, actor=partners.owner)
    with pytest.raises(ValidationError):
        services.partner_share_update(account=account, share_basis_points=10_001, actor=partners.staff)
    services.partner_share_update(account=account, share_basis_points=7350, actor=partners.staff)
    assert PartnerAccount.objects.get(organization=partners.org).share_basis_points == 7350
    log = AuditLog.objects.get(action="marketplace.partner_share_changed")
    assert log.details == {"from": 8000, "to": 7350}


def test_payouts_are_per_currency(partners):
    membership = partners.membership(partners.owner)
    usd = paid_integration(membership, name="Dollar Sync", price_minor=10, currency="USD")
    eur = paid_integration(membership, name="Euro Sync", price_minor=7, currency="EUR")
    customer = make_org("Acme")
    calls(install(usd, customer), 3)
    calls(install(eur, customer), 3)
    services.billing_period_close(month=MONTH, now=CLOSE_AT)
    assert sorted(Payout.objects.values_list("currency", "amount_minor")) == [("EUR", 16), ("USD", 24)]
    assert sorted(Statement.objects.values_list("kind", "currency")) == [
        ("customer", "EUR"),
        ("customer", "USD"),
        ("partner", "EUR"),
        ("partner", "USD"),
    ]


def test_the_admin_lists_revenue_rows_and_marks_payouts_paid(client, shop, partners):
    integration, customer = shop
    calls(install(integration, customer), 10)
    services.billing_period_close(month=MONTH, now=CLOSE_AT)
    admin = make_user("root@portal.test", is_staff=True, is_superuser=True)
    client.force_login(admin)
    for model in ("partneraccount", "billingperiod", "ledgerentry", "payout", "statement"):
        assert client.get(f"/admin/marketplace/{model}/").status_code == 200, model
    account = PartnerAccount.objects.get(organization=partners.org)
    assert "•••• " not in client.get(f"/admin/marketplace/partneraccount/{account.pk}/change/").content.decode()
    payout = Payout.objects.get()
    response = client.post(
        "/admin/marketplace/payout/", {"action": "mark_paid", "_selected_action": [payout.pk]}, follow=True
    )
    assert response.status_code == 200
    payout.refresh_from_db()
    assert payout.status == "paid"
    response = client.post(
        f"/admin/marketplace/partneraccount/{account.pk}/change/", {"share_basis_points": 7000}, follow=True
    )
    account.refresh_from_db()
    assert account.share_basis_points == 7000
    assert AuditLog.objects.filter(action="marketplace.partner_share_changed", actor=admin).exists()
