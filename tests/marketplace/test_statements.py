"""Statements: the CSV and PDF a close writes, their figures, and downloads scoped to the
organisation (another organisation's statement is a 404)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from accounts.models import Role
from marketplace import services
from marketplace.models import PartnerAccount, Statement
from marketplace.statements import Money, StatementDocument, render_csv, render_pdf
from tests.factories import add_member, make_org, make_user
from tests.marketplace.revenue_factories import CLOSE_AT, MONTH, calls, install, paid_integration


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def closed(partners):
    """March closed: Acme made 37 calls at 3 cents through Ledger Sync and pays Payroll's 49.99 monthly."""
    PartnerAccount.objects.create(organization=partners.org, share_basis_points=7350)
    membership = partners.membership(partners.owner)
    per_call = paid_integration(membership, price_minor=3)
    monthly = paid_integration(membership, name="Payroll", pricing_model="monthly", price_minor=4999)
    customer_owner = make_user("owner@acme.test")
    customer = make_org("Acme", owner=customer_owner)
    calls(install(per_call, customer), 37)
    install(monthly, customer)
    services.billing_period_close(month=MONTH, now=CLOSE_AT)
    return customer, customer_owner


def _rows(statement: Statement) -> list[list[str]]:
    return list(csv.reader(io.StringIO(statement.csv_file.read().decode())))


def test_the_partner_statement_lists_charges_per_integration_the_share_and_the_payout(partners, closed):
    statement = Statement.objects.get(kind="partner")
    rows = _rows(statement)

    assert rows[0] == ["Statement", "Partner statement"]
    assert ["Organisation", "Ledgerly"] in rows and ["Period", "2025-03"] in rows and ["Currency", "USD"] in rows
    assert ["Reference", statement.public_id] in rows
    header = rows.index(["Integration", "Installs", "Calls", "Charges", "Platform fee", "Your share", "Clawbacks"])
    # 37 × 3 = 111 cents: share floor(111 × .735) = 81, fee 30. 4999: share 3674, fee 1325.
    assert rows[header + 1] == ["Ledger Sync", "1", "37", "1.11", "0.30", "0.81", "0.00"]
    assert rows[header + 2] == ["Payroll", "1", "0", "49.99", "13.25", "36.74", "0.00"]
    assert ["Your share", "37.55"] in rows and ["Payout", "37.55"] in rows
    assert statement.total_minor == 3755 and statement.payout.amount_minor == 3755
    assert any("73.50 % to you" in cell for row in rows for cell in row)


def test_the_customer_statement_lists_what_each_install_cost(closed):
    customer, _owner = closed
    statement = Statement.objects.get(kind="customer")
    rows = _rows(statement)
    assert statement.organization == customer and statement.total_minor == 111 + 4999
    assert ["Organisation", "Acme"] in rows
    items = {row[0]: row for row in rows if row and row[0] in ("Ledger Sync", "Payroll")}
    assert items["Ledger Sync"][1] == "Ledgerly" and items["Ledger Sync"][-1] == "1.11"
    assert items["Payroll"][3] == "Payroll: monthly fee" and items["Payroll"][-1] == "49.99"
    assert ["Total", "51.10"] in rows


def test_the_pdf_is_a_pdf_naming_the_partner(partners, closed):
    statement = Statement.objects.get(kind="partner")
    pdf = statement.pdf_file.read()
    assert pdf.startswith(b"%PDF-")
    assert statement.pdf_file.name.endswith(".pdf") and statement.csv_file.name.endswith(".csv")
    assert statement.pdf_file.name.startswith(f"statements/2025-03/{statement.public_id}")


def _document(**overrides) -> StatementDocument:
    values = {
        "title": "Partner statement",
        "organization": "Ledgerly Ltd — Zürich",
        "period": "2025-03",
        "currency": "USD",
        "reference": "stm_test",
        "issued_at": datetime(2025, 4, 1, tzinfo=UTC),
        "portal_name": "Developer Portal",
        "columns": ["Integration", "Calls", "Charges"],
        "rows": [['=HYPERLINK("http://evil")', 3, Money(1234)], ["Ledger Sync", 37, Money(-5)]],
        "summary": [("Payout", 1229)],
    }
    values.update(overrides)
    return StatementDocument(**values)


def test_the_uncompressed_pdf_carries_the_partner_name_and_the_figures():
    pdf = render_pdf(_document(), compress=False)
    assert pdf.startswith(b"%PDF-")
    assert b"Ledgerly Ltd - Z\xfcrich" in pdf  # Latin-1 in the core font
    assert b"12.34 USD" in pdf and b"12.29 USD" in pdf


def test_rendering_the_same_statement_twice_gives_the_same_bytes():
    assert render_pdf(_document()) == render_pdf(_document())
    assert render_csv(_document()) == render_csv(_document())


def test_csv_cells_that_look_like_formulas_are_neutralised_but_negative_amounts_are_not():
    rows = list(csv.reader(io.StringIO(render_csv(_document()).decode())))
    assert ['\'=HYPERLINK("http://evil")', "3", "12.34"] in rows
    assert ["Ledger Sync", "37", "-0.05"] in rows


def test_amounts_use_the_currencys_minor_unit():
    rows = list(csv.reader(io.StringIO(render_csv(_document(currency="JPY", rows=[["x", 1, Money(1050)]])).decode())))
    assert ["x", "1", "1050"] in rows


# ---- downloads -----------------------------------------------------------------------------------


def test_the_partner_downloads_its_statement_as_csv_and_pdf(client, partners, closed):
    statement = Statement.objects.get(kind="partner")
    client.force_login(partners.owner)
    response = client.get(f"/marketplace/statements/{statement.public_id}/csv/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="partner-statement-2025-03-USD.csv"'
    assert b"Ledger Sync" in b"".join(response.streaming_content)
    assert "no-store" in response["Cache-Control"]
    response = client.get(f"/marketplace/statements/{statement.public_id}/pdf/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF")


def test_another_organisations_statement_is_a_404(client, partners, closed):
    partner_statement = Statement.objects.get(kind="partner")
    customer_statement = Statement.objects.get(kind="customer")
    client.force_login(partners.other_owner)
    for statement in (partner_statement, customer_statement):
        for fmt in ("csv", "pdf"):
            assert client.get(f"/marketplace/statements/{statement.public_id}/{fmt}/").status_code == 404
    assert client.get("/marketplace/statements/stm_doesnotexist/csv/").status_code == 404
    # And the customer cannot read the partner's statement of the same month.
    _customer, customer_owner = closed
    client.force_login(customer_owner)
    assert client.get(f"/marketplace/statements/{partner_statement.public_id}/csv/").status_code == 404
    assert client.get(f"/marketplace/statements/{customer_statement.public_id}/csv/").status_code == 200
    assert client.get(f"/marketplace/statements/{customer_statement.public_id}/xls/").status_code == 404


def test_a_role_without_payouts_read_cannot_see_partner_statements(client, partners, closed):
    statement = Statement.objects.get(kind="partner")
    role = Role.objects.create(organization=partners.org, name="Support", permissions=["integrations:read"])
    member = make_user("support@ledgerly.test")
    add_member(partners.org, member, "custom", custom_role=role)
    client.force_login(member)
    assert client.get("/marketplace/statements/").status_code == 403
    assert client.get(f"/marketplace/statements/{statement.public_id}/csv/").status_code == 403


def test_the_statements_page_lists_statements_payouts_and_the_preview(client, partners, closed):
    client.force_login(partners.owner)
    response = client.get("/marketplace/statements/")
    body = response.content.decode()
    statement = Statement.objects.get(kind="partner")
    assert response.status_code == 200
    assert "March 2025" in body and "37.55 USD" in body
    assert f"/marketplace/statements/{statement.public_id}/pdf/" in body
    assert statement.payout.public_id in body and "Pending" in body
    assert "Next payout preview" in body


def test_a_customer_sees_its_own_statements_and_no_partner_sections(client, closed):
    _customer, owner = closed
    client.force_login(owner)
    body = client.get("/marketplace/statements/").content.decode()
    assert "Customer statement" in body and "51.10 USD" in body
    assert "Partner statement" not in body and "Next payout preview" not in body


def test_the_statements_page_stays_within_a_fixed_number_of_queries(
    client, partners, closed, django_assert_max_num_queries
):
    client.force_login(partners.owner)
    with django_assert_max_num_queries(20):
        assert client.get("/marketplace/statements/").status_code == 200
