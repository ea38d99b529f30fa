"""Reads of installs: an organisation's installed integrations, a partner's installs, and
who may install where. One chokepoint per reader answers 404 for other organisations'
installations (another organisation's install looks exactly like an id that doesn't exist)."""

from __future__ import annotations

import re

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Membership, Organization, User
from accounts.selectors import membership_list_for_user
from apikeys.models import OAuthApplication
from marketplace.models import Installation, Integration, IntegrationImage

_PUBLIC_ID = re.compile(r"ins_[0-9A-Za-z]{1,40}")


def _installations() -> QuerySet[Installation]:
    return Installation.objects.select_related(
        "integration__organization", "integration__category", "organization", "installed_by", "uninstalled_by"
    )


def installation_list_for_organization(*, organization_id: int, status: str = "") -> QuerySet[Installation]:
    """The organisation's installs, newest first; `status` narrows to active or uninstalled."""
    installations = _installations().filter(organization_id=organization_id)
    if status:
        installations = installations.filter(status=status)
    return installations.order_by("-installed_at", "-id")


def installation_get(*, organization_id: int, public_id: str) -> Installation:
    """The chokepoint: the organisation's own installation by public id, or 404."""
    if not isinstance(public_id, str) or not _PUBLIC_ID.fullmatch(public_id):
        raise Http404("No such installation.")
    installation = _installations().filter(organization_id=organization_id, public_id=public_id).first()
    if installation is None:
        raise Http404("No such installation.")
    return installation


def installation_list_for_partner(*, organization: Organization) -> QuerySet[Installation]:
    """Installs of the partner's integrations, by every organisation, newest first."""
    return (
        Installation.objects.select_related("integration", "organization")
        .filter(integration__organization=organization)
        .order_by("-installed_at", "-id")
    )


def install_memberships(*, user: User) -> list[Membership]:
    """The memberships through which `user` may install: the role holds installs:manage and
    the organisation's two-factor rule is met."""
    return [
        membership
        for membership in membership_list_for_user(user=user)
        if membership.has_perm("installs:manage") and not (membership.organization.require_2fa and not user.has_totp)
    ]


def integration_for_application(*, application: OAuthApplication) -> Integration | None:
    """The integration an OAuth application backs, or None for an ordinary application."""
    return Integration.objects.select_related("organization", "category").filter(oauth_application=application).first()


def integration_logo_url(*, integration: Integration) -> str:
    """The integration's logo for the consent page, or "" (the page shows its initial)."""
    from marketplace.selectors.catalogue import image_url

    logo = integration.images.filter(kind=IntegrationImage.Kind.LOGO).first()
    return image_url(logo) if logo is not None else ""
