"""Reads of integration images: who may fetch an image file, and a partner's own images.

An image is as visible as its integration: everyone sees a published listing's images;
an unpublished listing's images are seen only by members of the partner organisation
(with integrations:read) and by staff, who review them. Anything else is a 404.
"""

from __future__ import annotations

from django.db.models import prefetch_related_objects
from django.http import Http404

from accounts.models import Membership, User
from marketplace.models import Integration, IntegrationImage


def integration_image_get_for_viewer(*, public_id: str, user: User | None) -> IntegrationImage:
    image = IntegrationImage.objects.select_related("integration").filter(public_id=public_id).first()
    if image is None:
        raise Http404("No such image.")
    if image.integration.is_published:
        return image
    if user is not None and user.is_authenticated:
        if user.is_staff:
            return image
        memberships = Membership.objects.filter(user=user, organization_id=image.integration.organization_id)
        if any(m.has_perm("integrations:read") for m in memberships.select_related("custom_role")):
            return image
    raise Http404("No such image.")


def integration_image_get_for_actor(*, actor: Membership, integration: Integration, public_id: str) -> IntegrationImage:
    """One image of an integration the caller already got through integration_get_for_actor."""
    if integration.organization_id != actor.organization_id:
        raise Http404("No such image.")
    image = integration.images.filter(public_id=public_id).first()
    if image is None:
        raise Http404("No such image.")
    return image


def _images(integration: Integration | None) -> list[IntegrationImage]:
    # An unsaved integration (the editor's preview of a new listing) has no images.
    if integration is None or integration.pk is None:
        return []
    # Loaded once per instance, so the logo, the gallery and the card on one page share a query;
    # a list page that prefetches "images" pays nothing here.
    prefetch_related_objects([integration], "images")
    return list(integration.images.all())


def integration_logo(integration: Integration | None) -> IntegrationImage | None:
    return next((i for i in _images(integration) if i.kind == IntegrationImage.Kind.LOGO), None)


def integration_screenshots(integration: Integration | None) -> list[IntegrationImage]:
    shots = [i for i in _images(integration) if i.kind == IntegrationImage.Kind.SCREENSHOT]
    return sorted(shots, key=lambda i: (i.position, i.pk))
