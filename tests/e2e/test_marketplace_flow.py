"""The marketplace in a real browser: a verified partner creates and submits an integration,
staff publish it from the review queue, a developer finds it by search and opens it. Every
marketplace page is shot at desktop and phone widths without horizontal overflow."""

from __future__ import annotations

import pytest

from marketplace.models import Integration
from tests.e2e.conftest import assert_fits, shot, sign_in_as
from tests.factories import make_org, make_user
from tests.marketplace.conftest import verify


def _shoot_both(page, name: str) -> None:
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        assert_fits(page)
        shot(page, name)
    page.set_viewport_size({"width": 1280, "height": 800})


@pytest.fixture
def people(settings, live_server, transactional_db):
    settings.PORTAL_BASE_URL = live_server.url
    partner = make_user("owner@ledgerly.test", full_name="Lee Ledger")
    org = make_org("Ledgerly", owner=partner, kind="partner")
    verify(org)
    staff = make_user("staff@portal.test", full_name="Sam Staff", is_staff=True)
    developer = make_user("dev@acme.test", full_name="Dana Developer")
    make_org("Acme", owner=developer)
    return partner, staff, developer


def test_a_partner_publishes_an_integration_that_a_developer_finds(page, new_page, live_server, people):
    partner, staff, developer = people

    sign_in_as(page, live_server, partner)
    page.goto("/marketplace/")
    page.click("text=My integrations")
    page.click("text=Create your first integration")
    page.fill("input[name=name]", "Ledger Sync")
    page.fill("input[name=tagline]", "Sync every payment into your accounting ledger")
    page.select_option("select[name=category]", label="Accounting")
    page.fill("textarea[name=description]", "## What it does\n\nKeeps **every payment** in your books.")
    page.click("summary:has-text('Sandbox')")
    page.check("input[name=scopes][value='payments:read']")
    page.fill("textarea[name=redirect_uris]", "http://127.0.0.1:9000/callback")
    page.fill("textarea[name=release_notes]", "First release")
    page.click("button:has-text('Preview description')")
    page.wait_for_selector(".mk-preview strong:has-text('every payment')")
    _shoot_both(page, "integration-editor")
    page.click("button:has-text('Create integration')")
    page.wait_for_selector("text=is saved as a draft")
    page.click("text=I've stored it")
    page.click("button:has-text('Submit for review')")
    page.wait_for_selector("text=Submitted for review")
    page.goto("/marketplace/partner/integrations/")
    page.wait_for_selector("text=In review")
    _shoot_both(page, "my-integrations")

    reviewer = new_page()
    sign_in_as(reviewer, live_server, staff)
    reviewer.goto("/marketplace/review/")
    _shoot_both(reviewer, "review-queue")
    reviewer.click("text=Ledger Sync")
    reviewer.select_option("select[name=decision]", "publish")
    reviewer.click("button:has-text('Record decision')")
    reviewer.wait_for_selector("text=published; the partner has been e-mailed")
    assert Integration.objects.get().status == Integration.Status.PUBLISHED

    dev = new_page()
    sign_in_as(dev, live_server, developer)
    dev.goto("/dashboard/")
    dev.click("nav >> text=Marketplace")
    dev.wait_for_selector("[data-integration='ledger-sync']")
    _shoot_both(dev, "marketplace-home")
    dev.fill("input[name=q]", "ledger")
    dev.click("button:has-text('Search')")
    dev.wait_for_selector("h1:has-text('Results for')")
    assert dev.locator("[data-integration='ledger-sync']").count() == 1
    _shoot_both(dev, "marketplace-search")
    dev.click("[data-integration='ledger-sync'] >> text=Accounting")
    dev.wait_for_selector("h1:has-text('Accounting')")
    _shoot_both(dev, "marketplace-category")
    dev.click("[data-integration='ledger-sync'] h3 a")
    dev.wait_for_selector("h1:has-text('Ledger Sync')")
    assert dev.locator(".mk-description strong").inner_text() == "every payment"
    assert dev.locator("text=Read payments").count() == 1
    _shoot_both(dev, "integration-detail")
