"""Browsing the marketplace in a real browser, at desktop and phone widths: the home page's
sections, a search refined with filters (all in the URL), a category, a detail page and the
partner's public profile. Each page is shot once per width and must not overflow sideways."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketplace.models import Installation, Integration
from tests.e2e.conftest import assert_fits, shot
from tests.factories import make_org, make_user
from tests.marketplace.conftest import verify
from tests.marketplace.test_browse import bulk_published


@pytest.fixture
def catalogue(transactional_db):
    owner = make_user("owner@ledgerly.test")
    partner = make_org("Ledgerly", owner=owner, kind="partner")
    verify(partner)
    rows = bulk_published(partner, 14, prefix="Ledger Tool")
    shield = bulk_published(partner, 1, prefix="Shield", category="security", pricing_model="monthly", price_minor=900)
    Integration.objects.filter(pk=shield[0].pk).update(
        featured_rank=1, rating_count=4, rating_sum=18, rating_average=Decimal("4.5"), install_count=40
    )
    Integration.objects.filter(pk=rows[0].pk).update(rating_count=2, rating_sum=6, rating_average=3, featured_rank=2)
    Installation.objects.create(integration=rows[3], organization=make_org(), environment="test")
    return partner, rows, shield[0]


@pytest.mark.parametrize("viewport", ["page", "phone_page"])
def test_a_developer_browses_searches_and_opens_a_partner(request, catalogue, viewport):
    page = request.getfixturevalue(viewport)
    partner, rows, shield = catalogue

    page.goto("/marketplace/")
    featured = page.locator("[data-section=featured] [data-integration]")
    assert featured.evaluate_all("els => els.map(e => e.dataset.integration)") == ["shield-0", "ledger-tool-0"]
    assert page.locator("[data-section=trending] [data-integration=ledger-tool-3]").is_visible()
    assert page.locator("[data-section=top-rated] [data-integration]").count() == 2
    assert "1 integration" in page.locator("[data-section=categories] a[href$='/security/']").inner_text()
    assert_fits(page)
    shot(page, "marketplace-home")

    # Search, then refine with a filter: the URL carries everything.
    page.fill("input[name=q]", "ledg")
    page.click("form.mk-filters button[type=submit]")
    page.wait_for_selector("h1:has-text('Results for “ledg”')")
    assert page.locator(".mk-grid [data-integration]").count() == 12
    assert page.locator("text=15 integrations · page 1 of 2").is_visible()
    page.select_option("select[name=min_rating]", "3")
    page.select_option("select[name=sort]", "rating")
    page.click("form.mk-filters button[type=submit]")
    page.wait_for_url("**min_rating=3**")
    assert "sort=rating" in page.url and "q=ledg" in page.url
    slugs = page.locator(".mk-grid [data-integration]").evaluate_all("els => els.map(e => e.dataset.integration)")
    assert slugs == ["shield-0", "ledger-tool-0"]
    assert page.locator("select[name=min_rating]").input_value() == "3"
    assert_fits(page)
    shot(page, "marketplace-search")

    # A bad value in a shared link is explained next to its field.
    page.goto("/marketplace/search/?min_rating=lots&q=shield")
    assert page.locator("#id_min_rating_error").inner_text() == "Choose a rating from 1 to 5."
    assert page.locator(".mk-grid [data-integration]").count() == 1

    page.goto("/marketplace/categories/security/?pricing=monthly")
    assert page.locator("h1").inner_text() == "Security"
    assert page.locator(".mk-grid [data-integration=shield-0]").is_visible()
    assert_fits(page)
    shot(page, "marketplace-category")

    page.click("[data-integration=shield-0] h3 a")
    page.wait_for_selector("h1:has-text('Shield 0')")
    assert page.locator("text=40 installs").first.is_visible()
    assert page.locator(".mk-stars").first.inner_text() == "★ 4.5"
    assert_fits(page)
    shot(page, "marketplace-detail")

    page.click("a.mk-partner-link")
    page.wait_for_selector("h1:has-text('Ledgerly')")
    assert page.locator(".mk-grid [data-integration]").count() == 12
    assert "average of 6 ratings" in page.locator(".mk-partner-rating").inner_text()
    assert page.locator("a[href='https://ledgerly.example']").is_visible()
    assert_fits(page)
    shot(page, "marketplace-partner")
