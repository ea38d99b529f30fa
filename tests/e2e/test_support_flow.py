"""Support tickets in a real browser: a developer opens a ticket with an attachment, a staff
member (a second browser) assigns it and answers, the developer reads the answer and
resolves it. Desktop and phone, every support page screenshotted and checked for overflow."""

from __future__ import annotations

import pytest
from django.core import mail

from portal.models import SupportTicket
from tests.e2e.conftest import assert_fits, shot, sign_in_as
from tests.factories import make_org, make_user


@pytest.fixture
def people(settings, live_server, transactional_db, tmp_path):
    settings.PORTAL_BASE_URL = live_server.url
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SUPPORT_STAFF_EMAIL = "support@portal.test"
    developer = make_user("dev@acme.test", full_name="Dana Developer")
    make_org("Acme Payments", owner=developer)
    agent = make_user("agent@portal.test", full_name="Sam Support", is_staff=True)
    return developer, agent


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_a_developer_opens_a_ticket_staff_answer_and_the_developer_resolves_it(
    new_page, live_server, people, tmp_path, phone
):
    developer, agent = people
    trace = tmp_path / "trace.log"
    trace.write_text("12:00:01 POST /api/v1/refunds -> 500 req_abc\n")

    dev = new_page(phone=phone)
    sign_in_as(dev, live_server, developer)
    dev.goto("/support/")
    assert dev.locator("h1").inner_text() == "Support"
    assert "No support tickets yet" in dev.inner_text("main")
    assert_fits(dev)
    shot(dev, "support-list-empty")
    dev.click("main >> text=New ticket")
    dev.wait_for_selector("h1:has-text('Open a support ticket')")
    dev.fill("input[name=subject]", "Refunds answer 500")
    dev.select_option("select[name=category]", "api")
    dev.select_option("select[name=priority]", "3")
    dev.fill("textarea[name=body]", "Every refund fails since this morning. <b>not bold</b>")
    dev.set_input_files("input[name=attachments]", str(trace))
    assert_fits(dev)
    shot(dev, "support-new")
    dev.click("button:has-text('Open ticket')")
    dev.wait_for_selector("text=opened. We will answer here and by e-mail.")
    ticket = SupportTicket.objects.get()
    assert ticket.public_id in dev.url
    assert "<b>not bold</b>" in dev.inner_text("[data-body]")
    with dev.expect_download() as download:
        dev.click("a[data-attachment]")
    assert download.value.suggested_filename == "trace.log"
    assert [m.to for m in mail.outbox] == [["support@portal.test"]]

    # Staff, in a second browser: the queue, assign to me, answer.
    staff = new_page(phone=phone)
    sign_in_as(staff, live_server, agent)
    staff.goto("/support/staff/")
    row = staff.locator(f"tr[data-ticket='{ticket.public_id}']")
    assert "Acme Payments" in row.inner_text() and "High" in row.inner_text()
    assert_fits(staff)
    shot(staff, "support-staff-queue")
    row.locator("a").click()
    staff.wait_for_selector("h1:has-text('Refunds answer 500')")
    staff.click("button:has-text('Assign to me')")
    staff.wait_for_selector("text=Assigned to Sam Support.")
    assert staff.inner_text("[data-assignee]") == "Sam Support"
    staff.fill("textarea[name=body]", "A fix is deployed; please retry refund req_abc.")
    staff.click("#reply button:has-text('Send')")
    staff.wait_for_selector("text=Reply sent to the customer.")
    assert staff.locator("[data-message]").count() == 2
    assert_fits(staff)
    shot(staff, "support-staff-ticket")
    assert mail.outbox[-1].to == ["dev@acme.test"]

    # The developer sees the answer and resolves the ticket.
    dev.reload()
    assert "A fix is deployed" in dev.inner_text(".st-thread")
    assert dev.locator("[data-status=waiting]").first.inner_text() == "Awaiting your reply"
    dev.click("button:has-text('Mark resolved')")
    dev.wait_for_selector("text=Marked resolved.")
    assert dev.locator("[data-status=resolved]").count() >= 1
    assert dev.locator("button:has-text('Reopen')").count() == 1
    assert_fits(dev)
    shot(dev, "support-ticket")
    dev.goto("/support/")
    assert "Refunds answer 500" in dev.inner_text("table") and "Resolved" in dev.inner_text("table")
    assert_fits(dev)
    shot(dev, "support-list")
    ticket.refresh_from_db()
    assert ticket.status == "resolved" and ticket.assignee == agent
