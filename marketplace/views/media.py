"""Integration images, served from our own storage.

The files are our own re-encodings (marketplace.services.media), served with the content
type recorded when we wrote them, `nosniff`, an inline disposition under a name we make,
and an ETag (the SHA-256 of the bytes). A published listing's images are cacheable by
anyone; an unpublished one's are private to the partner and staff, and a 404 to others.
"""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpResponseNotModified
from django.views.decorators.http import require_GET

from marketplace.selectors.media import integration_image_get_for_viewer

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
PUBLIC_MAX_AGE = 60 * 60 * 24


def _headers(response, image, *, public: bool):
    response["ETag"] = f'"{image.sha256}"'
    response["Cache-Control"] = f"public, max-age={PUBLIC_MAX_AGE}" if public else "private, no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@require_GET
def image(request, public_id: str):
    image = integration_image_get_for_viewer(public_id=public_id, user=request.user)
    public = image.integration.is_published
    if f'"{image.sha256}"' in request.headers.get("If-None-Match", ""):
        return _headers(HttpResponseNotModified(), image, public=public)
    try:
        handle = image.file.storage.open(image.file.name, "rb")
    except FileNotFoundError:
        raise Http404("No such image.") from None
    # The slug is [a-z0-9-] only, so the name needs no quoting or encoding.
    name = f"{image.integration.slug}-{image.kind}.{EXTENSIONS.get(image.content_type, 'bin')}"
    response = FileResponse(handle, content_type=image.content_type, filename=name)
    response["Content-Disposition"] = f'inline; filename="{name}"'
    return _headers(response, image, public=public)
