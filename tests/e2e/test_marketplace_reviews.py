"""Reviews in a real browser, at desktop and phone widths: a developer whose organisation
installed and used an integration reviews it (with markup in the text, which must stay
text), sees it on the detail page, the partner replies, staff hide it with a reason."""

from __future__ import annotations

import pytest

from marketplace.models import Installation, Review
from tests.e2e.conftest import assert_fits, shot, sign_in_as
from tests.factories import make_org, make_user
from tests.marketplace.conftest import create, publish, verify

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def _open_as(new_page, live_server, user, *, phone: bool):
    page = new_page(phone=phone)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    sign_in_as(page, live_server, user)
    page.dialogs = dialogs
    return page


@pytest.fixture
def world(settings, live_server, transactional_db):
    settings.PORTAL_BASE_URL = live_server.url
    partner = make_user("owner@ledgerly.test", full_name="Lee Ledger")
    partner_org = make_org("Ledgerly", owner=partner, kind="partner")
    verify(partner_org)
    staff = make_user("staff@portal.test", full_name="Sam Staff", is_staff=True)
    membership = partner.memberships.get()
    integration = publish(create(membership), staff, membership)
    developer = make_user("dev@acme.test", full_name="Dana Developer")
    acme = make_org("Acme", owner=developer)
    Installation.objects.create(
        integration=integration, organization=acme, environment="test", scopes=integration.scopes, call_count=42
    )
    return integration, partner, staff, developer


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_a_developer_reviews_the_partner_replies_and_staff_hide_it(new_page, live_server, world, phone):
    integration, partner, staff, developer = world
    detail = f"/marketplace/integrations/{integration.slug}/"

    dev = _open_as(new_page, live_server, developer, phone=phone)
    dev.goto(detail)
    dev.wait_for_selector("#reviews >> text=No reviews yet.")
    dev.click("#reviews >> text=Write a review")
    dev.wait_for_selector("h1:has-text('Review “Ledger Sync”')")
    dev.click("button:has-text('Publish your review')")  # nothing chosen: errors next to the fields
    dev.wait_for_selector("#id_rating_error:has-text('Give a rating from 1 to 5 stars.')")
    dev.check("input[name=rating][value='4']")
    dev.fill("input[name=title]", IMG)
    dev.fill("textarea[name=body]", f"Syncs every payment. {SCRIPT}")
    assert_fits(dev)
    shot(dev, "marketplace-review-write")
    dev.click("button:has-text('Publish your review')")
    dev.wait_for_selector("text=Thanks: your review is published.")
    review = Review.objects.get()
    item = dev.locator(f"#{review.public_id}")
    assert item.locator(".rv-title").inner_text() == IMG
    assert SCRIPT in item.locator(".rv-body").first.inner_text()
    assert "Acme" in item.inner_text()
    assert dev.locator(".rv-average-number").inner_text() == "4.0"
    assert dev.get_attribute(".rv-summary li:nth-child(2) .rv-bar", "aria-label") == "4 stars: 1 review (100%)"
    assert dev.locator("#reviews >> text=Edit your review").count() == 1
    assert dev.dialogs == []
    assert_fits(dev)
    shot(dev, "marketplace-reviews")

    owner = _open_as(new_page, live_server, partner, phone=phone)
    owner.goto(detail)
    owner.click(f"#{review.public_id} >> text=Reply")
    owner.wait_for_selector("h1:has-text('Reply to a review')")
    assert owner.locator(".rv-quoted .rv-title").inner_text() == IMG
    owner.fill("textarea[name=body]", f"Thanks, Acme! {IMG}")
    assert_fits(owner)
    shot(owner, "marketplace-review-reply")
    owner.click("button:has-text('Publish the reply')")
    owner.wait_for_selector("text=Your reply is published under the review.")
    reply = owner.locator(f"#{review.public_id} .rv-reply")
    assert "Reply from Ledgerly" in reply.inner_text()
    assert f"Thanks, Acme! {IMG}" in reply.inner_text()
    assert owner.dialogs == []

    moderator = _open_as(new_page, live_server, staff, phone=phone)
    moderator.goto(detail)
    moderator.click(f"#{review.public_id} >> text=Hide")
    moderator.wait_for_selector("h1:has-text('Hide a review')")
    moderator.click("button:has-text('Hide the review')")
    moderator.wait_for_selector("#id_reason_error")
    moderator.fill("textarea[name=reason]", "Contains markup meant to run as script")
    assert_fits(moderator)
    shot(moderator, "marketplace-review-hide")
    moderator.click("button:has-text('Hide the review')")
    moderator.wait_for_selector("text=The review is hidden from the marketplace")
    assert moderator.locator(f"#{review.public_id}").count() == 0
    assert moderator.locator("#rating >> text=No reviews yet.").count() == 1
    assert moderator.dialogs == []

    dev.goto(detail)
    dev.wait_for_selector("text=Staff hid your organisation's review: Contains markup meant to run as script")
    review.refresh_from_db()
    integration.refresh_from_db()
    assert review.hidden_reason == "Contains markup meant to run as script"
    assert (integration.rating_count, integration.rating_sum) == (0, 0)
