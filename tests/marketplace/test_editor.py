"""The integration editor through its pages: image uploads and removal, the install URL, the
preview (sanitised, saves nothing), and the submission status page."""

from __future__ import annotations

import html
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from accounts.models import AuditLog, PartnerProfile
from marketplace import services
from marketplace.models import Integration, IntegrationImage
from tests.marketplace.conftest import create, publish

HOSTILE_MARKDOWN = (
    "## Setup\n\nKeeps **every payment** in your books.\n\n"
    "<script>alert('xss')</script>\n\n"
    '<img src=x onerror="alert(2)">\n\n'
    "[click me](javascript:alert(3))\n\n"
    '<iframe src="https://evil.example/frame"></iframe>\n\n'
    '<a href="https://ledgerly.example/docs" onmouseover="alert(4)">docs</a>'
)
FORBIDDEN = ("<script", "alert('xss')", "onerror", "javascript:", "<iframe", "evil.example", "onmouseover")


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def png(size=(800, 500), fmt="PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 60, 90)).save(out, format=fmt)
    return out.getvalue()


def edit_post(integration: Integration, **overrides) -> dict:
    data = {
        "name": integration.name,
        "slug": integration.slug,
        "tagline": integration.tagline,
        "category": str(integration.category_id),
        "description": integration.description,
        "website_url": "",
        "docs_url": "",
        "support_url": "",
        "install_url": "",
        "scopes": list(integration.scopes),
        "redirect_uris": "\n".join(integration.oauth_application.redirect_uri_list),
        "pricing_model": integration.pricing_model,
        "price": "",
        "currency": integration.currency,
        "free_tier_calls": "",
        "version": integration.version,
        "release_notes": integration.release_notes,
    }
    data.update(overrides)
    return data


@pytest.fixture
def draft(partners) -> Integration:
    return create(partners.membership(partners.owner))


def upload(client, integration, kind, data: bytes, name="image.png", content_type="image/png", caption=""):
    payload = {"kind": kind, f"{kind}-kind": kind, f"{kind}-file": SimpleUploadedFile(name, data, content_type)}
    if kind == "screenshot":
        payload["screenshot-caption"] = caption
    return client.post(reverse("marketplace:image_add", args=[integration.public_id]), payload)


def field_error(body: str, field_id: str) -> str:
    marker = f'id="{field_id}_error">'
    assert marker in body, f"no error next to {field_id}"
    return body.split(marker, 1)[1].split("</p>", 1)[0]


# ---- uploads through the page ----------------------------------------------------------------


def test_a_partner_uploads_a_logo_and_a_screenshot_and_sees_them_on_the_status_page(partners, draft, client):
    client.force_login(partners.owner)
    response = upload(client, draft, "logo", png((400, 400)))
    assert response.status_code == 302 and response["Location"].endswith("/edit/#images")
    response = upload(client, draft, "screenshot", png(), caption="The ledger view")
    assert response.status_code == 302
    logo = draft.images.get(kind="logo")
    shot = draft.images.get(kind="screenshot")
    assert shot.caption == "The ledger view"
    page = client.get(reverse("marketplace:status", args=[draft.public_id])).content.decode()
    assert reverse("marketplace:image", args=[logo.public_id]) in page
    assert reverse("marketplace:image", args=[shot.public_id]) in page
    assert "The ledger view" in page
    editor = client.get(reverse("marketplace:edit", args=[draft.public_id])).content.decode()
    assert "Replace logo" in editor and "1 of 5" in editor


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (b"I am plain text\n" * 20, "innocent.png", "whatever its name says"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "logo.svg", "an SVG"),
        (png(fmt="GIF"), "anim.png", "a GIF"),
    ],
)
def test_a_wrong_type_is_refused_next_to_the_field_and_nothing_is_saved(partners, draft, client, data, name, expected):
    client.force_login(partners.owner)
    response = upload(client, draft, "screenshot", data, name=name)
    assert response.status_code == 400
    assert expected in field_error(response.content.decode(), "id_screenshot-file")
    assert not draft.images.exists()
    assert not AuditLog.objects.filter(action="integration.image_added").exists()


def test_a_logo_over_the_limit_is_refused_next_to_the_field(partners, draft, client, settings):
    settings.MARKETPLACE_LOGO_MAX_BYTES = 1024
    client.force_login(partners.owner)
    noisy = io.BytesIO()
    Image.effect_noise((200, 200), 90).convert("RGB").save(noisy, format="PNG")
    response = upload(client, draft, "logo", noisy.getvalue())
    assert "a logo can be at most 1 KB" in field_error(response.content.decode(), "id_logo-file")
    assert not draft.images.exists()


def test_an_empty_upload_says_to_choose_a_file(partners, draft, client):
    client.force_login(partners.owner)
    response = client.post(
        reverse("marketplace:image_add", args=[draft.public_id]), {"kind": "logo", "logo-kind": "logo"}
    )
    assert "Choose an image file." in field_error(response.content.decode(), "id_logo-file")


def test_a_sixth_screenshot_is_refused_on_the_page(partners, draft, client):
    client.force_login(partners.owner)
    for n in range(5):
        assert upload(client, draft, "screenshot", png((500 + n, 300))).status_code == 302
    editor = client.get(reverse("marketplace:edit", args=[draft.public_id])).content.decode()
    assert "remove one to add another" in editor and "Add screenshot" not in editor
    response = upload(client, draft, "screenshot", png())
    assert "at most 5 screenshots" in field_error(response.content.decode(), "id_screenshot-file")
    assert draft.images.count() == 5


def test_removing_and_moving_screenshots_through_the_page(partners, draft, client):
    client.force_login(partners.owner)
    upload(client, draft, "screenshot", png(), caption="first")
    upload(client, draft, "screenshot", png(), caption="second")
    first, second = draft.images.order_by("position")
    client.post(reverse("marketplace:image_move", args=[draft.public_id, second.public_id]), {"direction": "up"})
    assert [i.caption for i in draft.images.filter(kind="screenshot")] == ["second", "first"]
    response = client.post(reverse("marketplace:image_remove", args=[draft.public_id, first.public_id]))
    assert response.status_code == 302
    assert [i.caption for i in draft.images.all()] == ["second"]


def test_another_partner_gets_404_for_uploads_removals_and_unpublished_media(partners, draft, client):
    client.force_login(partners.owner)
    upload(client, draft, "screenshot", png())
    image = draft.images.get()
    client.force_login(partners.other_owner)
    assert upload(client, draft, "logo", png((300, 300))).status_code == 404
    assert client.post(reverse("marketplace:image_remove", args=[draft.public_id, image.public_id])).status_code == 404
    assert client.post(reverse("marketplace:image_move", args=[draft.public_id, image.public_id])).status_code == 404
    assert client.get(reverse("marketplace:image", args=[image.public_id])).status_code == 404
    # The rival's own integration with our image id: still a 404, the image is untouched.
    rival = create(partners.membership(partners.other_owner), name="Rival Sync")
    assert client.post(reverse("marketplace:image_remove", args=[rival.public_id, image.public_id])).status_code == 404
    assert draft.images.count() == 1


def test_a_developer_without_manage_cannot_upload(partners, draft, client):
    from tests.factories import add_member, make_user

    reader = make_user("reader@ledgerly.test")
    add_member(partners.org, reader, "read_only")
    client.force_login(reader)
    assert upload(client, draft, "logo", png((300, 300))).status_code in (403, 404)
    assert not draft.images.exists()


def test_a_submitted_listing_offers_no_uploads_and_refuses_one(partners, draft, client):
    services.integration_submit(integration=draft, actor=partners.membership(partners.owner))
    client.force_login(partners.owner)
    editor = client.get(reverse("marketplace:edit", args=[draft.public_id])).content.decode()
    assert "Upload logo" not in editor
    response = upload(client, draft, "logo", png((300, 300)))
    assert "can't be edited while staff review it" in html.unescape(response.content.decode())
    assert not draft.images.exists()


# ---- install URL ---------------------------------------------------------------------------------


def test_the_install_url_is_saved_and_shown_on_the_status_page(partners, draft, client):
    client.force_login(partners.owner)
    response = client.post(
        reverse("marketplace:edit", args=[draft.public_id]),
        edit_post(draft, install_url="https://ledgerly.example/install"),
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.install_url == "https://ledgerly.example/install"
    page = client.get(reverse("marketplace:status", args=[draft.public_id])).content.decode()
    assert "https://ledgerly.example/install" in page


def test_a_plain_http_install_url_is_refused_next_to_the_field(partners, draft, client):
    client.force_login(partners.owner)
    response = client.post(
        reverse("marketplace:edit", args=[draft.public_id]),
        edit_post(draft, install_url="http://ledgerly.example/install"),
    )
    assert "Use https" in field_error(response.content.decode(), "id_install_url")
    draft.refresh_from_db()
    assert draft.install_url == ""


# ---- preview ---------------------------------------------------------------------------------------


def test_the_preview_sanitises_hostile_markdown_and_saves_nothing(partners, draft, client):
    client.force_login(partners.owner)
    before = Integration.objects.values().get(pk=draft.pk)
    audits = AuditLog.objects.count()
    response = client.post(
        reverse("marketplace:edit", args=[draft.public_id]),
        edit_post(
            draft, name="Renamed Ledger", tagline="A brand new tagline", description=HOSTILE_MARKDOWN, preview="1"
        ),
    )
    assert response.status_code == 200
    body = response.content.decode()
    preview = body.split('id="preview-heading"', 1)[1]
    assert "<strong>every payment</strong>" in preview
    assert 'rel="nofollow noopener"' in preview
    for forbidden in FORBIDDEN:
        assert forbidden not in preview, forbidden
    # The card as it will look in search results, with the unsaved name and tagline.
    assert "Renamed Ledger" in preview and "A brand new tagline" in preview
    assert Integration.objects.values().get(pk=draft.pk) == before
    assert AuditLog.objects.count() == audits


def test_the_preview_of_a_new_listing_creates_nothing(partners, client):
    from marketplace.models import Category

    client.force_login(partners.owner)
    response = client.post(
        reverse("marketplace:create"),
        {
            "name": "Fresh Tool",
            "tagline": "Does fresh things",
            "category": str(Category.objects.get(slug="crm").pk),
            "description": HOSTILE_MARKDOWN,
            "preview": "1",
        },
    )
    preview = response.content.decode().split('id="preview-heading"', 1)[1]
    assert "Fresh Tool" in preview and "<strong>every payment</strong>" in preview
    for forbidden in FORBIDDEN:
        assert forbidden not in preview, forbidden
    assert not Integration.objects.exists()


def test_the_detail_page_renders_hostile_markdown_sanitised(partners, client):
    membership = partners.membership(partners.owner)
    integration = publish(create(membership, description=HOSTILE_MARKDOWN), partners.staff, membership)
    body = client.get(reverse("marketplace:detail", args=[integration.slug])).content.decode()
    description = body.split('aria-label="Description"', 1)[1].split("</section>", 1)[0]
    assert "<strong>every payment</strong>" in description
    for forbidden in FORBIDDEN:
        assert forbidden not in description, forbidden


# ---- status page -------------------------------------------------------------------------------------


def test_the_status_page_shows_the_changelog_with_notes_and_the_reviewer_notes(partners, client):
    membership = partners.membership(partners.owner)
    integration = create(membership, release_notes="First public release")
    publish(integration, partners.staff, membership)
    services.integration_unpublish(integration=integration, actor=partners.staff, reason="Fix the support link.")
    client.force_login(partners.owner)
    page = client.get(reverse("marketplace:status", args=[integration.public_id])).content.decode()
    assert "Changelog" in page and "1.0.0" in page and "First public release" in page
    assert "Fix the support link." in page


def test_an_unverified_partner_cannot_submit_from_the_status_page(partners, draft, client):
    PartnerProfile.objects.filter(organization=partners.org).update(
        verification_status=PartnerProfile.Verification.PENDING
    )
    client.force_login(partners.owner)
    page = client.get(reverse("marketplace:status", args=[draft.public_id])).content.decode()
    assert "Submit for review" not in page
    response = client.post(reverse("marketplace:submit", args=[draft.public_id]), follow=True)
    assert "waiting for staff review" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == Integration.Status.DRAFT


def test_list_pages_show_logos_without_a_query_per_row(partners, client, django_assert_max_num_queries):
    membership = partners.membership(partners.owner)
    for n in range(6):
        integration = create(membership, name=f"Tool {n}")
        services.integration_image_add(
            integration=integration, actor=membership, kind=IntegrationImage.Kind.LOGO, upload=png((200, 200))
        )
    client.force_login(partners.owner)
    with django_assert_max_num_queries(12):
        page = client.get(reverse("marketplace:mine")).content.decode()
    assert page.count('class="mk-logo mk-logo-sm"') == 6
