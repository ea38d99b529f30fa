"""Helpers for review tests: a published integration and reviewing organisations that
installed it (Installation rows made directly, without an OAuth grant) and used it."""

from __future__ import annotations

from accounts.models import Membership, Organization, User
from marketplace.models import Installation, Integration
from tests.factories import make_org, make_user
from tests.marketplace.conftest import Partners, create, publish


def published(partners: Partners, **overrides) -> Integration:
    membership = partners.membership(partners.owner)
    return publish(create(membership, **overrides), partners.staff, membership)


def install(integration: Integration, organization: Organization, *, calls: int = 0, env: str = "test") -> Installation:
    return Installation.objects.create(
        integration=integration, organization=organization, environment=env, scopes=integration.scopes, call_count=calls
    )


def reviewer(
    integration: Integration | None = None, *, name: str | None = None, calls: int = 25, email: str | None = None
) -> tuple[User, Organization, Membership]:
    """A developer organisation's owner; with an integration, the organisation installed it
    and made `calls` calls through it (0: installed but unused)."""
    user = make_user(email)
    organization = make_org(name, owner=user)
    if integration is not None:
        install(integration, organization, calls=calls)
    return user, organization, Membership.objects.get(user=user, organization=organization)
