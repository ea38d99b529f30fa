"""Demo data for `manage.py seed_demo`: idempotent, safe to run on every `make run`.

Each app adds its own part as a function taking the DemoWorld built so far and
returning what it created; later issues append theirs to SEEDERS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership, Organization, PartnerProfile, RoleName, User
from accounts.services import organization_create

DEMO_PASSWORD = "demo-portal-2026"


@dataclass
class DemoWorld:
    users: dict[str, User] = field(default_factory=dict)
    organizations: dict[str, Organization] = field(default_factory=dict)
    report: dict[str, Any] = field(
        default_factory=lambda: {"password": DEMO_PASSWORD, "users": [], "organizations": []}
    )


def _user(email: str, full_name: str, *, staff: bool = False) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(
            email=email, password=DEMO_PASSWORD, full_name=full_name, email_verified_at=timezone.now()
        )
    if staff and not (user.is_staff and user.is_superuser):
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    return user


def _organization(slug: str, name: str, kind: str, owner: User) -> Organization:
    organization = Organization.objects.filter(slug=slug).first()
    if organization is None:
        organization = organization_create(name=name, owner=owner, kind=kind)
        organization.slug = slug
        organization.save(update_fields=["slug"])
    return organization


def seed_accounts(world: DemoWorld) -> None:
    staff = _user("staff@portal.test", "Sam Staff", staff=True)
    world.users["staff"] = staff
    world.report["users"].append({"email": staff.email, "role": "platform staff (Django admin)", "organization": None})

    developer_people = [
        ("owner@northwind.test", "Nora Owner", RoleName.OWNER),
        ("admin@northwind.test", "Ari Admin", RoleName.ADMIN),
        ("dev@northwind.test", "Devi Developer", RoleName.DEVELOPER),
        ("viewer@northwind.test", "Ravi Reader", RoleName.READ_ONLY),
    ]
    partner_people = [
        ("owner@ledgerly.test", "Lena Partner", RoleName.OWNER),
        ("dev@ledgerly.test", "Leo Builder", RoleName.DEVELOPER),
    ]
    for key, slug, name, kind, people in (
        ("developer", "northwind", "Northwind Apps", Organization.Kind.DEVELOPER, developer_people),
        ("partner", "ledgerly", "Ledgerly", Organization.Kind.PARTNER, partner_people),
    ):
        owner = _user(people[0][0], people[0][1])
        organization = _organization(slug, name, kind, owner)
        world.organizations[key] = organization
        for email, full_name, role in people:
            user = _user(email, full_name)
            Membership.objects.get_or_create(user=user, organization=organization, defaults={"role": role})
            world.users[email] = user
            world.report["users"].append({"email": email, "role": role.value, "organization": organization.slug})
        world.report["organizations"].append(
            {"public_id": organization.public_id, "slug": organization.slug, "name": organization.name, "kind": kind}
        )

    profile = world.organizations["partner"].partner_profile
    if profile.verification_status != PartnerProfile.Verification.VERIFIED:
        PartnerProfile.objects.filter(pk=profile.pk).update(
            legal_name="Ledgerly Ltd",
            registration_number="GB-12345678",
            country="GB",
            website="https://ledgerly.example",
            address="1 Demo Street, London",
            contact_name="Lena Partner",
            contact_email="owner@ledgerly.test",
            verification_status=PartnerProfile.Verification.VERIFIED,
            submitted_at=timezone.now(),
            decided_at=timezone.now(),
            decided_by=staff,
        )


DEMO_KEYS = [
    # (name, environment, scopes)
    ("Demo sandbox key", "test", ["payments:read", "payments:write", "customers:read", "customers:write", "keys:read"]),
    ("Demo live key", "live", ["payments:read", "keys:read"]),
    ("Demo key manager", "test", ["keys:read", "keys:manage"]),
]


def _secrets_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-secrets.json"


def seed_apikeys(world: DemoWorld) -> None:
    """Demo keys for Northwind. A secret exists only when a key is made or rotated, so the
    secrets of the demo keys are kept in var/demo-secrets.json (development only) and a
    demo key whose secret is not on file is rotated to get one."""
    from apikeys.models import ApiKey
    from apikeys.services import apikey_create, apikey_rotate

    organization = world.organizations["developer"]
    owner = Membership.objects.get(organization=organization, user=world.users["owner@northwind.test"])
    path = _secrets_file()
    known = json.loads(path.read_text()) if path.exists() else {}
    report = []
    for name, environment, scopes in DEMO_KEYS:
        key = ApiKey.objects.filter(organization=organization, name=name, revoked_at__isnull=True).first()
        secret = known.get(key.public_id) if key else None
        if key is None:
            key, secret = apikey_create(
                organization=organization, actor_membership=owner, name=name, environment=environment, scopes=scopes
            )
        elif secret is None:
            key, secret = apikey_rotate(key=key, actor=owner, grace=timedelta(0))
        known[key.public_id] = secret
        report.append({"id": key.public_id, "name": name, "environment": environment, "scopes": scopes, "key": secret})
    path.write_text(json.dumps(known, indent=2))
    path.chmod(0o600)
    world.report["api_keys"] = report


SEEDERS = [seed_accounts, seed_apikeys]


@transaction.atomic
def seed_demo() -> DemoWorld:
    world = DemoWorld()
    for seeder in SEEDERS:
        seeder(world)
    return world


DEMO_OAUTH_APP = ("Demo ledger sync", ["payments:read", "customers:read", "keys:read"])


def seed_oauth(world: DemoWorld) -> None:
    """A client-credentials application for Northwind in test mode. Only a hash of its
    client secret is stored, so, as for the demo keys, the secret is kept on file and an
    application whose secret is not on file gets a new one."""
    from apikeys.models import OAuthApplication
    from apikeys.services import oauth_application_create, oauth_application_rotate_secret

    organization = world.organizations["developer"]
    owner = Membership.objects.get(organization=organization, user=world.users["owner@northwind.test"])
    name, scopes = DEMO_OAUTH_APP
    path = _secrets_file()
    known = json.loads(path.read_text()) if path.exists() else {}
    application = OAuthApplication.objects.filter(organization=organization, name=name).first()
    secret = known.get(application.public_id) if application else None
    if application is None:
        application, secret = oauth_application_create(
            organization=organization,
            actor_membership=owner,
            name=name,
            environment="test",
            grant_type="client_credentials",
            redirect_uris=[],
            scopes=scopes,
            description="Created by seed_demo.",
        )
    elif secret is None:
        application, secret = oauth_application_rotate_secret(application=application, actor_membership=owner)
    known[application.public_id] = secret
    path.write_text(json.dumps(known, indent=2))
    path.chmod(0o600)
    world.report["oauth_applications"] = [
        {
            "id": application.public_id,
            "name": application.name,
            "environment": application.environment,
            "client_id": application.client_id,
            "client_secret": secret,
            "token_url": f"{settings.PORTAL_BASE_URL}/oauth/token",
            "scopes": application.allowed_scopes,
        }
    ]


SEEDERS.append(seed_oauth)


def seed_sandbox(world: DemoWorld) -> None:
    """Three months of test-mode customers, payments and refunds for Northwind, once."""
    from payments_mock.models import Customer
    from payments_mock.services import sandbox_generate

    organization = world.organizations["developer"]
    if Customer.objects.filter(organization=organization, livemode=False).exists():
        created = {"customers": Customer.objects.filter(organization=organization, livemode=False).count()}
    else:
        created = sandbox_generate(organization_id=organization.pk, customers=10, months=3, seed=2026)
    world.report["sandbox"] = {"organization": organization.slug, **created}


SEEDERS.append(seed_sandbox)
