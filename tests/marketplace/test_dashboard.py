"""The partner area: dashboard figures, payout settings (encrypted at rest, masked on the page,
never echoed back) and the staff's platform-revenue page."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import AuditLog, Role
from marketplace import selectors, services
from marketplace.models import Installation, PartnerAccount, Review
from tests.factories import add_member, make_org, make_user
from tests.marketplace.revenue_factories import CLOSE_AT, MONTH, calls, install, paid_integration

IBAN = "GB82WEST12345698765432"
US_ACCOUNT = "000123456789"
ROUTING = "021000021"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def busy(partners):
    """This month: two live installs of Ledger Sync (one since uninstalled) with 12 calls, a test install
    with 5 calls; last month (closed): 20 calls. A review with markup in it."""
    now = timezone.now()
    this_month = selectors.month_start(now)
    last_month_moment = datetime.combine(selectors.month_before(this_month), time(), tzinfo=UTC) + timedelta(days=3)
    integration = paid_integration(partners.membership(partners.owner), price_minor=5)
    acme, globex = make_org("Acme"), make_org("Globex")
    first = install(integration, acme, installed_at=last_month_moment - timedelta(days=10))
    install(integration, globex, installed_at=now - timedelta(minutes=5), uninstalled_at=now - timedelta(minutes=1))
    sandbox = install(integration, globex, environment="test", installed_at=now - timedelta(minutes=5))
    calls(first, 12, at=now)
    calls(sandbox, 5, at=now)
    calls(first, 20, at=last_month_moment)
    services.billing_period_close(now=now)
    Review.objects.create(
        integration=integration,
        organization=acme,
        rating=4,
        title="Solid <b>sync</b>",
        body="Works well <script>alert(1)</script>",
    )
    return integration


def test_the_dashboard_shows_installs_calls_revenue_payouts_and_reviews(client, partners, busy):
    client.force_login(partners.owner)
    response = client.get("/marketplace/partner/")
    body = response.content.decode()
    assert response.status_code == 200
    context = response.context
    assert (context["installs_total"], context["installs_active"]) == (3, 2)
    assert context["calls_this_month"] == 17  # live and test calls through the installs
    assert context["revenue_this_month"] == [("USD", 48)]  # 12 live calls × 5 = 60, 80 %
    assert context["revenue_last_month"] == [("USD", 80)]  # 20 × 5 = 100, 80 %, from the ledger
    assert [(row["currency"], row["total"]) for row in context["pending_payouts"]] == [("USD", 80)]
    assert "0.48 USD" in body and "0.80 USD" in body
    assert "Works well &lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert" not in body
    assert "Solid &lt;b&gt;sync&lt;/b&gt;" in body
    assert "/marketplace/statements/" in body and "/marketplace/partner/installs/" in body
    assert f"/marketplace/partner/integrations/{busy.public_id}/" in body


def test_the_dashboard_counts_calls_in_one_aggregate_and_a_bounded_number_of_queries(
    client, partners, busy, django_assert_max_num_queries
):
    client.force_login(partners.owner)
    with django_assert_max_num_queries(25):
        assert client.get("/marketplace/partner/").status_code == 200


def test_a_read_only_member_without_payouts_read_sees_no_money(client, partners, busy):
    role = Role.objects.create(organization=partners.org, name="Listings", permissions=["integrations:read"])
    member = make_user("listings@ledgerly.test")
    add_member(partners.org, member, "custom", custom_role=role)
    client.force_login(member)
    response = client.get("/marketplace/partner/")
    assert response.status_code == 200
    assert "Revenue this month" not in response.content.decode()
    assert "Next payout preview" not in response.content.decode()


def test_a_developer_organisation_has_no_partner_area(client, world):
    client.force_login(world.owner)
    assert client.get("/marketplace/partner/").status_code == 403
    assert client.get("/marketplace/partner/payouts/settings/").status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client, db):
    for url in ("/marketplace/partner/", "/marketplace/statements/", "/marketplace/partner/payouts/settings/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# ---- payout settings -----------------------------------------------------------------------------


def _raw_column(organization_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT payout_details_encrypted, payout_details_last4 FROM {PartnerAccount._meta.db_table} "
            "WHERE organization_id = %s",
            [organization_id],
        )
        return " ".join(cursor.fetchone())


def test_an_iban_is_stored_encrypted_and_shown_masked(client, partners):
    client.force_login(partners.owner)
    response = client.post(
        "/marketplace/partner/payouts/settings/",
        {"account_holder": "Ledgerly Ltd", "account_number": "gb82 west 1234 5698 7654 32", "routing_number": ""},
        follow=True,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "•••• 5432" in body and "Ledgerly Ltd" in body
    assert IBAN not in body and "GB82 WEST" not in body.upper()
    raw = _raw_column(partners.org.pk)
    assert IBAN not in raw and "12345698765432" not in raw and raw.startswith("v1.")
    account = PartnerAccount.objects.get(organization=partners.org)
    assert account.payout_details_last4 == "5432"
    assert services.partner_payout_details_reveal(account=account) == {"kind": "iban", "iban": IBAN}
    assert AuditLog.objects.filter(action="marketplace.payout_details_changed").exists()
    assert IBAN not in str(AuditLog.objects.get(action="marketplace.payout_details_changed").details)
    assert "no-store" in response["Cache-Control"]


def test_a_us_account_needs_a_valid_routing_number(client, partners):
    client.force_login(partners.owner)
    url = "/marketplace/partner/payouts/settings/"
    response = client.post(url, {"account_holder": "Ledgerly", "account_number": US_ACCOUNT, "routing_number": "123"})
    assert response.status_code == 400
    assert 'id="id_routing_number_error"' in response.content.decode()
    response = client.post(url, {"account_holder": "Ledgerly", "account_number": US_ACCOUNT, "routing_number": ROUTING})
    assert response.status_code == 302
    account = PartnerAccount.objects.get(organization=partners.org)
    assert services.partner_payout_details_reveal(account=account) == {
        "kind": "us",
        "account_number": US_ACCOUNT,
        "routing_number": ROUTING,
    }
    assert US_ACCOUNT not in _raw_column(partners.org.pk)


def test_a_bad_iban_is_an_error_next_to_the_field_and_is_not_echoed_back(client, partners):
    client.force_login(partners.owner)
    bad = "GB82WEST12345698765433"
    response = client.post(
        "/marketplace/partner/payouts/settings/", {"account_holder": "Ledgerly", "account_number": bad}
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_account_number_error"' in body and "mod-97" in body
    assert bad not in body
    assert not PartnerAccount.objects.filter(organization=partners.org).exclude(payout_details_encrypted="").exists()


def test_a_developer_cannot_change_payout_details(client, partners):
    client.force_login(partners.developer)
    response = client.post(
        "/marketplace/partner/payouts/settings/", {"account_holder": "Mallory", "account_number": IBAN}
    )
    assert response.status_code == 403
    assert not PartnerAccount.objects.filter(organization=partners.org).exists()


def test_the_dashboard_shows_only_the_masked_account(client, partners, busy):
    services.partner_payout_details_update(
        actor=partners.membership(partners.owner), account_holder="Ledgerly Ltd", account_number=IBAN
    )
    client.force_login(partners.owner)
    body = client.get("/marketplace/partner/").content.decode()
    assert "•••• 5432" in body and IBAN not in body


# ---- staff revenue --------------------------------------------------------------------------------


def test_the_staff_revenue_page_is_for_staff_only(client, partners, world):
    client.force_login(partners.owner)
    assert client.get("/marketplace/staff/revenue/").status_code == 403
    client.force_login(world.owner)
    assert client.get("/marketplace/staff/revenue/").status_code == 403
    client.logout()
    assert client.get("/marketplace/staff/revenue/").status_code == 302


def test_staff_see_platform_fee_by_month_and_by_partner(client, partners, django_assert_max_num_queries):
    membership = partners.membership(partners.owner)
    rival = paid_integration(partners.membership(partners.other_owner), name="Rival Sync", price_minor=7)
    ours = paid_integration(membership, price_minor=3)
    customer = make_org("Acme")
    calls(install(ours, customer), 33)  # 99: fee 20
    calls(install(rival, customer), 10)  # 70: fee 14
    services.billing_period_close(month=MONTH, now=CLOSE_AT)
    client.force_login(partners.staff)
    with django_assert_max_num_queries(12):
        response = client.get("/marketplace/staff/revenue/")
    assert response.status_code == 200
    [month] = response.context["by_month"]
    assert (month["charges"], month["fee"], month["share"], month["payouts"]) == (169, 34, 135, -135)
    by_partner = {row["integration__organization__name"]: row for row in response.context["by_partner"]}
    assert (by_partner["Ledgerly"]["fee"], by_partner["Ledgerly"]["pending"]) == (20, 79)
    assert (by_partner["Rival Apps"]["fee"], by_partner["Rival Apps"]["charges"]) == (14, 70)
    body = response.content.decode()
    assert "March 2025" in body and "0.34 USD" in body and "Rival Apps" in body


def test_the_installs_figures_ignore_other_partners(client, partners, busy):
    other = paid_integration(partners.membership(partners.other_owner), name="Rival Sync", price_minor=7)
    calls(install(other, make_org("Initech"), installed_at=timezone.now() - timedelta(minutes=3)), 9)
    data = selectors.partner_dashboard_get(organization=partners.org)
    assert (data["installs_total"], data["calls_this_month"]) == (3, 17)
    assert Installation.objects.count() == 4
