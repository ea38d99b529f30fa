"""Marketplace revenue in a real browser: a partner whose integrations were used last month and this
month opens the partner dashboard, adds payout details (shown masked), and after the period closes
finds the statement with its revenue share and downloads it; staff read platform revenue. Every page
at desktop and phone widths, without horizontal overflow."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.models import Membership
from marketplace import selectors
from marketplace.models import PartnerAccount, Statement
from marketplace.tasks import close_billing_period
from tests.e2e.conftest import assert_fits, shot, sign_in
from tests.factories import PASSWORD, make_org, make_user
from tests.marketplace.conftest import verify
from tests.marketplace.revenue_factories import calls, install, paid_integration

IBAN = "GB82WEST12345698765432"


@pytest.fixture
def revenue_world(settings, tmp_path, live_server, transactional_db):
    """Ledgerly (73.5 % share) sells Ledger Sync at 3 cents a call and Payroll at 49.99 a month;
    Acme used both last month and keeps using Ledger Sync this month."""
    settings.PORTAL_BASE_URL = live_server.url
    settings.MEDIA_ROOT = tmp_path / "media"
    partner = make_user("owner@ledgerly.test", full_name="Lee Ledger")
    org = make_org("Ledgerly", owner=partner, kind="partner")
    verify(org)
    PartnerAccount.objects.create(organization=org, share_basis_points=7350)
    staff = make_user("staff@portal.test", full_name="Sam Staff", is_staff=True)
    customer = make_org("Acme", owner=make_user("owner@acme.test"))
    membership = Membership.objects.get(user=partner)
    per_call = paid_integration(membership, price_minor=3)
    monthly = paid_integration(membership, name="Payroll", pricing_model="monthly", price_minor=4999)

    now = timezone.now()
    last_month = datetime.combine(selectors.month_before(selectors.month_start(now)), time(), tzinfo=UTC)
    ledger_install = install(per_call, customer, installed_at=last_month)
    install(monthly, customer, installed_at=last_month)
    calls(ledger_install, 37, at=last_month + timedelta(days=2))
    calls(ledger_install, 12, at=now)
    return partner, staff


def _close_last_month() -> None:
    assert close_billing_period.delay().get().endswith(" closed")


def test_a_partner_sees_its_revenue_and_after_the_close_its_statement(page, new_page, revenue_world):
    partner, staff = revenue_world
    sign_in(page, partner.email, PASSWORD)
    page.click("nav >> text=Partner area")
    page.wait_for_selector("h1:has-text('Partner dashboard')")
    assert page.locator("[data-stat=installs] .stat").inner_text() == "2"
    assert page.locator("[data-stat=calls] .stat").inner_text() == "12"
    # This month so far: 12 calls × 3 = 36 cents, 73.5 % of it is 26 cents, plus Payroll's monthly fee.
    this_month = page.locator("[data-stat=revenue-this-month] .stat").inner_text()
    assert this_month == "37.00 USD"  # floor(36 × .735) = 26 + floor(4999 × .735) = 3674
    assert page.locator("#next-payout").is_visible()
    assert page.locator(".rv-preview td:has-text('Payroll')").count() == 1
    assert_fits(page)
    shot(page, "partner-dashboard")

    page.click("a:text-is('Add payout details')")
    page.wait_for_selector("h1:has-text('Payout details')")
    page.fill("input[name=account_holder]", "Ledgerly Ltd")
    page.fill("input[name=account_number]", "GB82WEST12345698765433")
    page.click("button:has-text('Save payout details')")
    page.wait_for_selector("#id_account_number_error:has-text('mod-97')")
    assert page.locator("input[name=account_number]").input_value() == ""  # never echoed back
    page.fill("input[name=account_number]", IBAN)
    page.click("button:has-text('Save payout details')")
    page.wait_for_selector("text=Payout details saved")
    assert page.locator("[data-masked]").inner_text() == "•••• 5432"
    assert IBAN not in page.content()
    assert_fits(page)
    shot(page, "payout-settings")

    page.goto("/marketplace/statements/")
    page.wait_for_selector("text=No statements yet")
    _close_last_month()  # the monthly beat task
    page.reload()
    row = page.locator("tr[data-statement]")
    assert row.count() == 1
    # Last month: 37 × 3 = 111 → share 81; 4999 → share 3674. The partner's share: 37.55 USD.
    assert "37.55 USD" in row.inner_text() and "Partner statement" in row.inner_text()
    assert page.locator("tr[data-payout] .badge").inner_text() == "Pending"
    assert_fits(page)
    shot(page, "statements")
    with page.expect_download() as download_info:
        row.locator("text=CSV").click()
    content = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert "Your share,37.55" in content and "Ledger Sync,1,37,1.11,0.30,0.81" in content
    assert "account ending 5432" in content
    with page.expect_download() as download_info:
        row.locator("text=PDF").click()
    assert Path(download_info.value.path()).read_bytes()[:5] == b"%PDF-"
    assert Statement.objects.filter(kind="partner").count() == 1

    admin_page = new_page()
    sign_in(admin_page, staff.email, PASSWORD)
    admin_page.goto("/marketplace/staff/revenue/")
    month_row = admin_page.locator("tr[data-month]")
    assert month_row.count() == 1
    assert "13.55 USD" in month_row.inner_text()  # platform fee: 30 + 1325 cents
    assert "Ledgerly" in admin_page.locator("tr[data-partner]").inner_text()
    assert_fits(admin_page)
    shot(admin_page, "staff-revenue")


def test_the_revenue_pages_work_at_phone_width(phone_page, new_page, revenue_world):
    partner, staff = revenue_world
    _close_last_month()
    sign_in(phone_page, partner.email, PASSWORD)

    phone_page.goto("/marketplace/partner/")
    phone_page.wait_for_selector("h1:has-text('Partner dashboard')")
    assert phone_page.locator("[data-stat=revenue-last-month] .stat").inner_text() == "37.55 USD"
    assert phone_page.locator("[data-stat=pending] .stat").inner_text() == "37.55 USD"
    assert_fits(phone_page)
    shot(phone_page, "partner-dashboard")

    phone_page.goto("/marketplace/partner/payouts/settings/")
    phone_page.fill("input[name=account_holder]", "Ledgerly Ltd")
    phone_page.fill("input[name=account_number]", IBAN)
    phone_page.click("button:has-text('Save payout details')")
    phone_page.wait_for_selector("[data-masked]:has-text('5432')")
    assert_fits(phone_page)
    shot(phone_page, "payout-settings")

    phone_page.goto("/marketplace/statements/")
    assert "37.55 USD" in phone_page.locator("tr[data-statement]").inner_text()
    assert_fits(phone_page)
    shot(phone_page, "statements")

    staff_phone = new_page(phone=True)
    sign_in(staff_phone, staff.email, PASSWORD)
    staff_phone.goto("/marketplace/staff/revenue/")
    assert "13.55 USD" in staff_phone.locator("tr[data-month]").inner_text()
    assert_fits(staff_phone)
    shot(staff_phone, "staff-revenue")
