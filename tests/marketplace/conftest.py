"""A verified partner with an owner and a developer, an unverified partner, staff, and helpers
that create, submit and publish integrations through the services."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.utils import timezone

from accounts.models import Membership, Organization, PartnerProfile, User
from marketplace import services
from marketplace.models import Category, Integration
from tests.factories import add_member, make_org, make_user

VERIFIED_PROFILE = {
    "legal_name": "Ledgerly Ltd",
    "registration_number": "12345678",
    "country": "GB",
    "website": "https://ledgerly.example",
    "address": "1 High Street, London",
    "contact_name": "Lee Ledger",
    "contact_email": "lee@ledgerly.example",
}


@dataclass
class Partners:
    org: Organization
    owner: User
    developer: User
    unverified_org: Organization
    unverified_owner: User
    other_org: Organization
    other_owner: User
    staff: User

    def membership(self, user: User) -> Membership:
        return Membership.objects.get(user=user)


def verify(org: Organization) -> None:
    PartnerProfile.objects.filter(organization=org).update(
        **VERIFIED_PROFILE, verification_status=PartnerProfile.Verification.VERIFIED, decided_at=timezone.now()
    )


@pytest.fixture
def partners(db) -> Partners:
    owner = make_user("owner@ledgerly.test", full_name="Lee Ledger")
    org = make_org("Ledgerly", owner=owner, kind="partner")
    verify(org)
    developer = make_user("dev@ledgerly.test")
    add_member(org, developer, "developer")
    unverified_owner = make_user("owner@newco.test")
    unverified_org = make_org("Newco", owner=unverified_owner, kind="partner")
    other_owner = make_user("owner@rival.test")
    other_org = make_org("Rival Apps", owner=other_owner, kind="partner")
    verify(other_org)
    staff = make_user("staff@portal.test", is_staff=True)
    return Partners(org, owner, developer, unverified_org, unverified_owner, other_org, other_owner, staff)


def create(membership: Membership, **overrides) -> Integration:
    values = {
        "name": "Ledger Sync",
        "tagline": "Sync payments into your accounting ledger",
        "description": "Keeps **every payment** in your books.",
        "category": Category.objects.get(slug="accounting"),
        "scopes": ["payments:read", "customers:read"],
        "redirect_uris": ["https://ledgerly.example/oauth/callback"],
    }
    values.update(overrides)
    integration, _secret = services.integration_create(actor=membership, **values)
    return integration


def publish(integration: Integration, staff: User, membership: Membership) -> Integration:
    services.integration_submit(integration=integration, actor=membership)
    return services.integration_review(integration=integration, reviewer=staff, decision="publish")
