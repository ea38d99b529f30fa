"""The integration editor in a real browser: a verified partner uploads a logo and a screenshot
(images made with Pillow), is told next to the field when a file is not an image, previews the
description and the card, saves, and sees the images on the status page; the published
listing shows them in its gallery. Desktop and phone, each page shot."""

from __future__ import annotations

import pytest
from PIL import Image

from marketplace import services
from marketplace.models import Category, Integration, IntegrationImage
from tests.e2e.conftest import assert_fits, shot, sign_in
from tests.factories import PASSWORD, make_org, make_user
from tests.marketplace.conftest import verify


def _loaded(page, selector: str) -> None:
    """The image really arrived from our media URL and decoded (not a broken icon)."""
    page.wait_for_function(
        "s => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth > 0; }", arg=selector
    )


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    logo = tmp_path / "logo.png"
    Image.new("RGBA", (640, 640), (67, 56, 202, 255)).save(logo)
    screenshot = tmp_path / "screen.jpg"
    Image.new("RGB", (1920, 1080), (30, 160, 110)).save(screenshot, quality=80)
    fake = tmp_path / "not-really.png"
    fake.write_text("<html><script>alert(1)</script></html>")
    return {"logo": logo, "screenshot": screenshot, "fake": fake}


@pytest.fixture
def partner(live_server, transactional_db):
    owner = make_user("owner@ledgerly.test", full_name="Lee Ledger")
    org = make_org("Ledgerly", owner=owner, kind="partner")
    verify(org)
    membership = owner.memberships.get()
    integration, _secret = services.integration_create(
        actor=membership,
        name="Ledger Sync",
        tagline="Sync every payment into your accounting ledger",
        description="Keeps payments in your books.",
        category=Category.objects.get(slug="accounting"),
        scopes=["payments:read"],
        redirect_uris=["http://127.0.0.1:9000/callback"],
    )
    return owner, membership, integration


def _edit(page, integration: Integration, media) -> None:
    page.goto(f"/marketplace/partner/integrations/{integration.public_id}/edit/")
    page.wait_for_selector("h1:has-text('Edit')")

    # Not an image, whatever its name says: the error sits next to the field and nothing is saved.
    page.set_input_files("input[name=screenshot-file]", str(media["fake"]))
    page.click("button:has-text('Add screenshot')")
    page.wait_for_selector("#id_screenshot-file_error:has-text('this file is HTML')")
    assert not IntegrationImage.objects.exists()

    page.set_input_files("input[name=logo-file]", str(media["logo"]))
    page.click("button:has-text('Upload logo')")
    page.wait_for_selector("text=Logo saved.")
    _loaded(page, ".mk-logo-current img.mk-logo")

    page.set_input_files("input[name=screenshot-file]", str(media["screenshot"]))
    page.fill("input[name=screenshot-caption]", "Reconciliation at a glance")
    page.click("button:has-text('Add screenshot')")
    page.wait_for_selector("text=Screenshot added.")
    _loaded(page, ".mk-shot-list img")
    assert page.locator(".mk-shot-list").inner_text().count("Reconciliation at a glance") == 1

    page.fill("input[name=tagline]", "Every payment, reconciled in your ledger")
    page.fill(
        "textarea[name=description]",
        "## What it does\n\nKeeps **every payment** in your books.\n\n<script>document.title='owned'</script>"
        "\n\n[docs](javascript:alert(1))",
    )
    page.click("button:has-text('Preview description and card')")
    page.wait_for_selector(".mk-preview strong:has-text('every payment')")
    preview = page.locator(".mk-preview")
    assert preview.locator("script").count() == 0
    assert preview.locator("a[href^='javascript']").count() == 0
    assert "Every payment, reconciled in your ledger" in preview.inner_text()
    assert page.title() != "owned"
    # Previewing saved nothing.
    assert Integration.objects.get().tagline == "Sync every payment into your accounting ledger"
    assert_fits(page)


def test_a_partner_adds_images_previews_and_saves_on_a_desktop(page, live_server, partner, media):
    owner, membership, integration = partner
    sign_in(page, owner.email, PASSWORD)
    _edit(page, integration, media)
    shot(page, "integration-editor-images")
    page.click("button:has-text('Save changes')")
    page.wait_for_selector("text=Changes saved.")
    page.wait_for_selector("h2:has-text('Logo and screenshots')")
    _loaded(page, ".mk-status-logo img.mk-logo")
    _loaded(page, ".mk-status-shot img")
    assert "Reconciliation at a glance" in page.locator(".mk-status-images").inner_text()
    assert Integration.objects.get().tagline == "Every payment, reconciled in your ledger"
    assert_fits(page)
    shot(page, "integration-status")


def test_a_partner_adds_images_previews_and_saves_on_a_phone(phone_page, live_server, partner, media):
    owner, membership, integration = partner
    sign_in(phone_page, owner.email, PASSWORD)
    _edit(phone_page, integration, media)
    shot(phone_page, "integration-editor-images")
    phone_page.click("button:has-text('Save changes')")
    phone_page.wait_for_selector("text=Changes saved.")
    _loaded(phone_page, ".mk-status-shot img")
    assert_fits(phone_page)
    shot(phone_page, "integration-status")


@pytest.mark.parametrize("phone", [False, True])
def test_the_published_listing_shows_its_gallery(new_page, live_server, partner, media, phone):
    owner, membership, integration = partner
    with media["logo"].open("rb") as logo, media["screenshot"].open("rb") as screenshot:
        services.integration_image_add(integration=integration, actor=membership, kind="logo", upload=logo)
        services.integration_image_add(
            integration=integration, actor=membership, kind="screenshot", upload=screenshot, caption="The ledger"
        )
    services.integration_submit(integration=integration, actor=membership)
    staff = make_user("staff@portal.test", is_staff=True)
    services.integration_review(integration=integration, reviewer=staff, decision="publish")

    visitor = new_page(phone=phone)
    visitor.goto(f"/marketplace/integrations/{integration.slug}/")
    visitor.wait_for_selector(".mk-gallery figcaption:has-text('The ledger')")
    _loaded(visitor, ".page-header img.mk-logo")
    _loaded(visitor, ".mk-shots img")
    assert_fits(visitor)
    shot(visitor, "integration-gallery")
