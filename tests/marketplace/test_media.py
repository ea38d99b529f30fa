"""Logos and screenshots: what is accepted, what is refused (and why), what we store and serve."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo

from accounts.models import AuditLog
from marketplace import services
from marketplace.models import Integration, IntegrationImage
from tests.factories import add_member, make_user
from tests.marketplace.conftest import create, publish

LOGO = IntegrationImage.Kind.LOGO
SHOT = IntegrationImage.Kind.SCREENSHOT


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def image_bytes(fmt: str = "PNG", size=(800, 500), mode: str = "RGB", **save) -> bytes:
    image = Image.new(mode, size, (20, 120, 200) if mode == "RGB" else (20, 120, 200, 128))
    out = io.BytesIO()
    image.save(out, format=fmt, **save)
    return out.getvalue()


def upload(data: bytes, name: str = "shot.png", content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose header declares width x height (an image bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


@pytest.fixture
def draft(partners) -> Integration:
    return create(partners.membership(partners.owner))


def add(integration, membership, data: bytes, kind=SHOT, **kwargs) -> IntegrationImage:
    return services.integration_image_add(
        integration=integration, actor=membership, kind=kind, upload=upload(data), **kwargs
    )


def refused(integration, membership, data: bytes, kind=SHOT, name="shot.png") -> str:
    with pytest.raises(ValidationError) as caught:
        services.integration_image_add(integration=integration, actor=membership, kind=kind, upload=upload(data, name))
    assert not integration.images.exists()
    return " ".join(caught.value.message_dict.get("file", caught.value.messages))


# ---- accepted, re-encoded ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_png_jpeg_and_webp_screenshots_are_re_encoded_as_webp_within_the_box(partners, draft, fmt):
    membership = partners.membership(partners.owner)
    image = add(draft, membership, image_bytes(fmt, size=(3200, 1000)), caption="  The   dashboard ")
    stored = image.file.read()
    assert stored[:4] == b"RIFF" and stored[8:12] == b"WEBP"
    assert (image.content_type, image.width, image.height) == ("image/webp", 1600, 500)
    assert image.size_bytes == len(stored) and image.sha256 == hashlib.sha256(stored).hexdigest()
    assert image.caption == "The dashboard"
    assert image.file.name == f"marketplace/{draft.pk}/{image.public_id}.webp"


def test_a_logo_becomes_a_png_of_at_most_512_and_keeps_transparency(partners, draft):
    image = add(draft, partners.membership(partners.owner), image_bytes("PNG", (1024, 800), "RGBA"), kind=LOGO)
    with Image.open(image.file) as stored:
        assert (stored.format, stored.size, stored.mode) == ("PNG", (512, 400), "RGBA")
    assert image.content_type == "image/png"


def test_exif_and_text_metadata_are_stripped(partners, draft):
    membership = partners.membership(partners.owner)
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Industries"  # Make
    exif[0x0131] = "SecretEditor 9"  # Software
    jpeg = image_bytes("JPEG", exif=exif.tobytes())
    assert b"SpyCam" in jpeg
    info = PngInfo()
    info.add_text("Comment", "home address: 1 Secret Lane")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    png = image_bytes("PNG", (600, 600), pnginfo=info, icc_profile=icc)
    assert b"Secret Lane" in png
    with Image.open(io.BytesIO(png)) as original:
        assert "icc_profile" in original.info

    shot = add(draft, membership, jpeg)
    logo = add(draft, membership, png, kind=LOGO)
    for image, secret in ((shot, b"SpyCam"), (logo, b"Secret Lane")):
        data = image.file.read()
        assert secret not in data
        with Image.open(io.BytesIO(data)) as stored:
            assert not stored.getexif()
            assert not {"exif", "comment", "Comment", "icc_profile"} & set(stored.info)


def test_the_exif_orientation_is_applied_before_it_is_dropped(partners, draft):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    image = add(draft, partners.membership(partners.owner), image_bytes("JPEG", (800, 400), exif=exif.tobytes()))
    assert (image.width, image.height) == (400, 800)


def test_bytes_appended_after_the_image_are_not_served(partners, draft):
    polyglot = image_bytes("PNG") + b"<script>alert(document.cookie)</script>"
    image = add(draft, partners.membership(partners.owner), polyglot)
    assert b"<script>" not in image.file.read()


# ---- refused ---------------------------------------------------------------------------------


def test_a_text_file_named_png_is_refused(partners, draft):
    message = refused(draft, partners.membership(partners.owner), b"just some text, honest\n" * 10)
    assert "Upload a PNG, JPEG or WebP image" in message and "whatever its name says" in message


def test_html_pretending_to_be_a_png_is_refused(partners, draft):
    message = refused(draft, partners.membership(partners.owner), b"<html><script>alert(1)</script></html>")
    assert "this file is HTML" in message


def test_an_svg_is_refused_even_with_an_svg_name(partners, draft):
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'
    message = refused(draft, partners.membership(partners.owner), svg, kind=LOGO, name="logo.svg")
    assert "this file is an SVG" in message


def test_a_gif_is_refused(partners, draft):
    message = refused(draft, partners.membership(partners.owner), image_bytes("GIF"))
    assert "this file is a GIF" in message


def noise_png(size=(600, 400)) -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 100).convert("RGB").save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_a_truncated_png_is_refused(partners, draft, keep):
    data = noise_png()
    message = refused(draft, partners.membership(partners.owner), data[: int(len(data) * keep)])
    assert "damaged or incomplete" in message


def test_a_truncated_jpeg_is_refused(partners, draft):
    out = io.BytesIO()
    Image.effect_noise((600, 400), 100).convert("RGB").save(out, format="JPEG")
    data = out.getvalue()
    message = refused(draft, partners.membership(partners.owner), data[: len(data) // 2])
    assert "damaged or incomplete" in message


def test_a_file_over_the_byte_limit_is_refused(partners, draft, settings):
    settings.MARKETPLACE_LOGO_MAX_BYTES = 2048
    message = refused(draft, partners.membership(partners.owner), noise_png((256, 256)), kind=LOGO)
    assert "a logo can be at most 2 KB" in message


@pytest.mark.parametrize(("width", "height"), [(20000, 20000), (7000, 7000)])
def test_an_image_bomb_is_refused_before_it_is_decoded(partners, draft, width, height):
    bomb = png_declaring(width, height)
    assert len(bomb) < 200
    message = refused(draft, partners.membership(partners.owner), bomb)
    assert "megapixels" in message


def test_a_tiny_screenshot_is_refused_with_the_minimum(partners, draft):
    message = refused(draft, partners.membership(partners.owner), image_bytes("PNG", (100, 80)))
    assert "at least 320×200" in message


def test_a_sixth_screenshot_is_refused(partners, draft):
    membership = partners.membership(partners.owner)
    for n in range(5):
        add(draft, membership, image_bytes("PNG", (400 + n, 300)))
    with pytest.raises(ValidationError) as caught:
        add(draft, membership, image_bytes("PNG"))
    assert "at most 5 screenshots" in caught.value.message_dict["file"][0]
    assert draft.images.filter(kind=SHOT).count() == 5
    assert [i.position for i in draft.images.filter(kind=SHOT)] == [0, 1, 2, 3, 4]


def test_a_new_logo_replaces_the_old_one_and_its_file(partners, draft, django_capture_on_commit_callbacks):
    membership = partners.membership(partners.owner)
    first = add(draft, membership, image_bytes("PNG", (300, 300)), kind=LOGO)
    old_name = first.file.name
    assert first.file.storage.exists(old_name)
    with django_capture_on_commit_callbacks(execute=True):
        second = add(draft, membership, image_bytes("PNG", (400, 400)), kind=LOGO)
    assert list(draft.images.filter(kind=LOGO)) == [second]
    assert not first.file.storage.exists(old_name)
    assert AuditLog.objects.filter(action="integration.image_added", details__replaced=first.public_id).exists()


def test_removing_and_reordering_screenshots(partners, draft, django_capture_on_commit_callbacks):
    membership = partners.membership(partners.owner)
    a, b, c = (add(draft, membership, image_bytes("PNG", (400, 300))) for _ in range(3))
    services.integration_image_reorder(
        integration=draft, actor=membership, order=[c.public_id, a.public_id, b.public_id]
    )
    assert [i.public_id for i in draft.images.filter(kind=SHOT)] == [c.public_id, a.public_id, b.public_id]
    with pytest.raises(ValidationError):
        services.integration_image_reorder(integration=draft, actor=membership, order=[a.public_id, a.public_id])
    with django_capture_on_commit_callbacks(execute=True):
        services.integration_image_remove(image=a, actor=membership)
    assert not a.file.storage.exists(a.file.name)
    assert [(i.public_id, i.position) for i in draft.images.filter(kind=SHOT)] == [(c.public_id, 0), (b.public_id, 1)]
    assert AuditLog.objects.filter(action="integration.image_removed", details__image=a.public_id).exists()


# ---- who may change images -------------------------------------------------------------------


def test_another_partner_cannot_add_or_remove_images(partners, draft):
    rival = partners.membership(partners.other_owner)
    with pytest.raises(PermissionDenied):
        add(draft, rival, image_bytes())
    image = add(draft, partners.membership(partners.owner), image_bytes())
    with pytest.raises(PermissionDenied):
        services.integration_image_remove(image=image, actor=rival)
    assert draft.images.count() == 1


def test_a_read_only_member_cannot_add_images(partners, draft):
    reader = make_user("reader@ledgerly.test")
    membership = add_member(partners.org, reader, "read_only")
    with pytest.raises(PermissionDenied):
        add(draft, membership, image_bytes())


def test_images_cannot_change_while_submitted_or_published(partners, draft):
    membership = partners.membership(partners.owner)
    services.integration_submit(integration=draft, actor=membership)
    with pytest.raises(ValidationError, match="can't be edited while staff review it"):
        add(draft, membership, image_bytes())
    services.integration_review(integration=draft, reviewer=partners.staff, decision="publish")
    with pytest.raises(ValidationError, match="Unpublish the integration"):
        add(draft, membership, image_bytes())
    assert not draft.images.exists()


def test_a_partner_that_loses_verification_cannot_add_images(partners, draft):
    from accounts.models import PartnerProfile

    PartnerProfile.objects.filter(organization=partners.org).update(
        verification_status=PartnerProfile.Verification.PENDING
    )
    with pytest.raises(ValidationError, match="Only verified partners"):
        add(draft, partners.membership(partners.owner), image_bytes())


# ---- serving -----------------------------------------------------------------------------------


def test_an_image_is_served_with_its_type_nosniff_an_inline_name_and_an_etag(partners, draft, client):
    image = add(draft, partners.membership(partners.owner), image_bytes(), caption="Home")
    client.force_login(partners.developer)
    response = client.get(reverse("marketplace:image", args=[image.public_id]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == image.file.read()
    assert response["Content-Type"] == "image/webp"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == 'inline; filename="ledger-sync-screenshot.webp"'
    assert response["ETag"] == f'"{image.sha256}"'
    assert response["Cache-Control"] == "private, no-cache"
    again = client.get(reverse("marketplace:image", args=[image.public_id]), HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


def test_an_unpublished_listings_images_are_404_to_outsiders_and_visible_to_staff(partners, draft, client):
    image = add(draft, partners.membership(partners.owner), image_bytes())
    url = reverse("marketplace:image", args=[image.public_id])
    assert client.get(url).status_code == 404
    client.force_login(partners.other_owner)
    assert client.get(url).status_code == 404
    client.force_login(partners.staff)
    assert client.get(url).status_code == 200
    assert client.get(reverse("marketplace:image", args=["img_doesnotexist"])).status_code == 404


def test_a_published_listings_images_are_public_and_cacheable(partners, draft, client):
    membership = partners.membership(partners.owner)
    image = add(draft, membership, image_bytes(), kind=SHOT)
    publish(draft, partners.staff, membership)
    response = client.get(reverse("marketplace:image", args=[image.public_id]))
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=86400"


def test_the_detail_page_shows_the_logo_and_the_screenshots_with_captions(partners, draft, client):
    membership = partners.membership(partners.owner)
    logo = add(draft, membership, image_bytes("PNG", (300, 300)), kind=LOGO)
    shot = add(draft, membership, image_bytes(), caption="Reconciliation view")
    publish(draft, partners.staff, membership)
    page = client.get(reverse("marketplace:detail", args=[draft.slug])).content.decode()
    assert reverse("marketplace:image", args=[logo.public_id]) in page
    assert reverse("marketplace:image", args=[shot.public_id]) in page
    assert "<figcaption" in page and "Reconciliation view" in page
    assert "{#" not in page and "#}" not in page


def test_staff_see_the_images_read_only_in_the_admin(partners, draft, client):
    image = add(draft, partners.membership(partners.owner), image_bytes(), caption="Admin view")
    admin = make_user("root@portal.test", is_staff=True, is_superuser=True)
    client.force_login(admin)
    page = client.get(reverse("admin:marketplace_integration_change", args=[draft.pk])).content.decode()
    assert reverse("marketplace:image", args=[image.public_id]) in page and "Admin view" in page
