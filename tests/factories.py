"""Plain helpers that build users and organisations for tests."""

from __future__ import annotations

import itertools

from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Membership, Organization, PartnerProfile, Plan, User

PASSWORD = "correct-horse-battery-staple"
_counter = itertools.count(1)


def make_user(email: str | None = None, *, password: str = PASSWORD, verified: bool = True, **extra) -> User:
    n = next(_counter)
    email = email or f"user{n}@example.com"
    extra.setdefault("full_name", email.split("@")[0].replace(".", " ").title())
    return User.objects.create_user(
        email=email, password=password, email_verified_at=timezone.now() if verified else None, **extra
    )


def make_org(name: str | None = None, *, owner: User | None = None, kind: str = "developer", **extra) -> Organization:
    n = next(_counter)
    name = name or f"Org {n}"
    extra.setdefault("plan", Plan.objects.get_default())
    org = Organization.objects.create(name=name, slug=f"{slugify(name)}-{n}", kind=kind, **extra)
    if kind == Organization.Kind.PARTNER:
        PartnerProfile.objects.create(organization=org)
    if owner is not None:
        Membership.objects.create(user=owner, organization=org, role="owner")
    return org


def add_member(org: Organization, user: User, role: str = "developer", custom_role=None) -> Membership:
    return Membership.objects.create(user=user, organization=org, role=role, custom_role=custom_role)
