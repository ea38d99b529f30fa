"""Logos and screenshots of integrations: validated, re-encoded by us, stored under our names.

An upload is never trusted. Its type is sniffed from the bytes (not the file name nor the
browser's content type) and only PNG, JPEG and WebP are accepted; SVG (scriptable), GIF
and anything else are refused. Its size in bytes is capped, and so is its size in pixels,
read from the header before anything is decoded, so a small file that declares a huge
canvas (an image bomb) never reaches the decoder; Pillow's own decompression-bomb
warning is an error here too. The file is verified, reopened and fully decoded (truncated
files fail), then re-encoded from the pixels alone: EXIF, ICC profiles, comments and any
bytes appended after the image are dropped. Logos become PNG of at most 512x512,
screenshots WebP within 1600x1000. What we serve is only ever our own encoding.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image, ImageOps, UnidentifiedImageError

from accounts.models import Membership
from accounts.services import SYSTEM, RequestMeta, audit_record
from marketplace.models import Integration, IntegrationImage
from marketplace.services.listings import _require_member, _require_verified_partner

Kind = IntegrationImage.Kind

LOGO_BOX = (512, 512)
SCREENSHOT_BOX = (1600, 1000)
# Below these an image is too small to be legible in the card or the gallery.
LOGO_MIN = (64, 64)
SCREENSHOT_MIN = (320, 200)
MAX_CAPTION = 140

_ACCEPTED = "Upload a PNG, JPEG or WebP image"


@dataclass(frozen=True)
class EncodedImage:
    content: bytes
    content_type: str
    extension: str
    width: int
    height: int
    sha256: str


def max_bytes(kind: str) -> int:
    return settings.MARKETPLACE_LOGO_MAX_BYTES if kind == Kind.LOGO else settings.MARKETPLACE_SCREENSHOT_MAX_BYTES


def _human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")
    return f"{max(1, round(size / 1024))} KB"


def sniff(head: bytes) -> str:
    """The format the bytes really are: "PNG", "JPEG", "WEBP", or a word for what was refused."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "a GIF"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in text[:1024] or text.startswith(b"<?xml"):
        return "an SVG"
    if text.startswith((b"<!doctype html", b"<html", b"<script", b"<")):
        return "HTML"
    if head.startswith(b"%PDF"):
        return "a PDF"
    return "unknown"


def _refused(message: str) -> ValidationError:
    return ValidationError({"file": [message]})


def image_encode(*, data: bytes, kind: str) -> EncodedImage:
    """Validate an uploaded image and re-encode it; a ValidationError keyed `file` says why not."""
    if not data:
        raise _refused("The file is empty.")
    if len(data) > max_bytes(kind):
        raise _too_large(len(data), kind)
    found = sniff(data[:2048])
    if found not in ("PNG", "JPEG", "WEBP"):
        what = "not an image we recognise" if found == "unknown" else found
        raise _refused(f"{_ACCEPTED}; this file is {what}, whatever its name says.")
    max_pixels = settings.MARKETPLACE_IMAGE_MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Opening reads the header only: dimensions are known before any pixel is decoded.
            with Image.open(io.BytesIO(data), formats=[found]) as probe:
                width, height = probe.size
                if width * height > max_pixels:
                    raise _refused(
                        f"The image declares {width}×{height} pixels; at most {max_pixels // 1_000_000} "
                        "megapixels are accepted."
                    )
                probe.verify()
            with Image.open(io.BytesIO(data), formats=[found]) as image:
                image.seek(0)  # animated WebP/PNG: the first frame only
                image.load()
                image = ImageOps.exif_transpose(image)
                encoded = _reencode(image, kind=kind)
    except ValidationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _refused(
            f"The image declares more pixels than we decode; at most {max_pixels // 1_000_000} megapixels."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError):
        raise _refused(f"The file claims to be {found} but is damaged or incomplete; export it again.") from None
    return encoded


def _reencode(image: Image.Image, *, kind: str) -> EncodedImage:
    minimum = LOGO_MIN if kind == Kind.LOGO else SCREENSHOT_MIN
    if image.width < minimum[0] or image.height < minimum[1]:
        raise _refused(
            f"The image is {image.width}×{image.height} pixels; "
            f"{'a logo' if kind == Kind.LOGO else 'a screenshot'} needs at least {minimum[0]}×{minimum[1]}."
        )
    transparent = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    clean = image.convert("RGBA" if transparent else "RGB")
    # convert() carries `info` along (EXIF, ICC profile, text chunks) and PNG's encoder writes
    # the ICC profile from it: the encoding gets the pixels and nothing else.
    clean.info = {}
    clean.thumbnail(LOGO_BOX if kind == Kind.LOGO else SCREENSHOT_BOX, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if kind == Kind.LOGO:
        clean.save(out, format="PNG", optimize=True)
        content_type, extension = "image/png", "png"
    else:
        clean.save(out, format="WEBP", quality=85, method=4)
        content_type, extension = "image/webp", "webp"
    content = out.getvalue()
    return EncodedImage(
        content=content,
        content_type=content_type,
        extension=extension,
        width=clean.width,
        height=clean.height,
        sha256=hashlib.sha256(content).hexdigest(),
    )


def _too_large(size: int, kind: str) -> ValidationError:
    what = "a logo" if kind == Kind.LOGO else "a screenshot"
    return _refused(f"The file is {_human_size(size)}; {what} can be at most {_human_size(max_bytes(kind))}.")


def _read_upload(upload: IO[bytes] | bytes, kind: str) -> bytes:
    """The upload's bytes, refusing one that is too large before reading it."""
    if isinstance(upload, bytes):
        return upload
    limit = max_bytes(kind)
    size = getattr(upload, "size", None)
    if isinstance(size, int) and size > limit:
        raise _too_large(size, kind)
    if hasattr(upload, "seek"):
        upload.seek(0)
    return upload.read(limit + 1)


def _lock_editable(integration: Integration, actor: Membership) -> Integration:
    integration = Integration.objects.select_for_update().select_related("organization").get(pk=integration.pk)
    _require_member(actor, integration.organization)
    _require_verified_partner(integration.organization)
    if not integration.is_editable:
        raise ValidationError(
            "A submitted integration can't be edited while staff review it."
            if integration.status == Integration.Status.SUBMITTED
            else "Unpublish the integration before changing its images."
        )
    return integration


def _delete_file_after_commit(name: str) -> None:
    if not name:
        return

    def delete() -> None:
        from django.core.files.storage import default_storage

        default_storage.delete(name)

    transaction.on_commit(delete)


@transaction.atomic
def integration_image_add(
    *,
    integration: Integration,
    actor: Membership,
    kind: str,
    upload: IO[bytes] | bytes,
    caption: str = "",
    meta: RequestMeta = SYSTEM,
) -> IntegrationImage:
    """Add a screenshot (at most five) or set the logo (replacing, and deleting, the old one)."""
    if kind not in Kind.values:
        raise ValidationError({"kind": ["Choose a logo or a screenshot."]})
    integration = _lock_editable(integration, actor)
    caption = " ".join((caption or "").split())
    if len(caption) > MAX_CAPTION:
        raise ValidationError({"caption": [f"At most {MAX_CAPTION} characters."]})
    existing = list(integration.images.filter(kind=kind))
    if kind == Kind.SCREENSHOT and len(existing) >= IntegrationImage.MAX_SCREENSHOTS:
        raise ValidationError(
            {"file": [f"A listing has at most {IntegrationImage.MAX_SCREENSHOTS} screenshots; remove one first."]}
        )
    encoded = image_encode(data=_read_upload(upload, kind), kind=kind)
    replaced = None
    if kind == Kind.LOGO and existing:
        replaced = existing[0]
        _delete_file_after_commit(replaced.file.name)
        replaced.delete()
    image = IntegrationImage(
        integration=integration,
        kind=kind,
        content_type=encoded.content_type,
        width=encoded.width,
        height=encoded.height,
        size_bytes=len(encoded.content),
        sha256=encoded.sha256,
        caption=caption if kind == Kind.SCREENSHOT else "",
        position=(max((i.position for i in existing), default=-1) + 1) if kind == Kind.SCREENSHOT else 0,
    )
    # upload_to names the file after the integration and the image's public id; only the
    # extension comes from here, and it is the one of our encoding.
    image.file.save(f"{kind}.{encoded.extension}", ContentFile(encoded.content), save=False)
    try:
        image.save()
    except Exception:
        image.file.storage.delete(image.file.name)
        raise
    audit_record(
        action="integration.image_added",
        actor=actor.user,
        organization=integration.organization,
        meta=meta,
        target=integration,
        details={
            "image": image.public_id,
            "kind": kind,
            "width": image.width,
            "height": image.height,
            "bytes": image.size_bytes,
            "sha256": image.sha256,
            **({"replaced": replaced.public_id} if replaced is not None else {}),
        },
    )
    return image


@transaction.atomic
def integration_image_remove(*, image: IntegrationImage, actor: Membership, meta: RequestMeta = SYSTEM) -> None:
    """Delete a logo or screenshot; its file goes once the transaction commits."""
    integration = _lock_editable(image.integration, actor)
    image = IntegrationImage.objects.filter(pk=image.pk, integration=integration).first()
    if image is None:
        return
    _delete_file_after_commit(image.file.name)
    public_id, kind = image.public_id, image.kind
    image.delete()
    if kind == Kind.SCREENSHOT:
        _renumber(integration, [s.pk for s in integration.images.filter(kind=Kind.SCREENSHOT)])
    audit_record(
        action="integration.image_removed",
        actor=actor.user,
        organization=integration.organization,
        meta=meta,
        target=integration,
        details={"image": public_id, "kind": kind},
    )


def _renumber(integration: Integration, ordered_pks: list[int]) -> None:
    for position, pk in enumerate(ordered_pks):
        IntegrationImage.objects.filter(pk=pk, integration=integration).update(position=position)


@transaction.atomic
def integration_image_reorder(
    *, integration: Integration, actor: Membership, order: list[str], meta: RequestMeta = SYSTEM
) -> list[IntegrationImage]:
    """Put the screenshots in the order of `order` (their public ids); every screenshot once."""
    integration = _lock_editable(integration, actor)
    screenshots = {s.public_id: s for s in integration.images.filter(kind=Kind.SCREENSHOT)}
    if sorted(order) != sorted(screenshots) or len(set(order)) != len(order):
        raise ValidationError("List every screenshot of the integration exactly once.")
    _renumber(integration, [screenshots[public_id].pk for public_id in order])
    audit_record(
        action="integration.images_reordered",
        actor=actor.user,
        organization=integration.organization,
        meta=meta,
        target=integration,
        details={"order": order},
    )
    return list(integration.images.filter(kind=Kind.SCREENSHOT))
