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


# (name, slug, category, tagline, pricing, price_minor, free_tier_calls, scopes, featured rank, colour)
DEMO_INTEGRATIONS = [
    ("Ledger Sync", "ledger-sync", "accounting", "Every payment and refund in your general ledger, reconciled nightly",
     "per_call", 2, 0, ["payments:read", "refunds:read", "customers:read"], 1, (37, 99, 235)),
    ("Invoice Pilot", "invoice-pilot", "accounting", "Turn subscriptions into tax-ready invoices and chase late payers",
     "monthly", 4900, 1000, ["subscriptions:read", "customers:read"], None, (22, 163, 74)),
    ("Tax Bridge", "tax-bridge", "accounting", "Sales tax and VAT worked out per transaction, filed per quarter",
     "monthly", 2900, 0, ["transactions:read", "reports:read"], None, (202, 138, 4)),
    ("Checkout Kit", "checkout-kit", "payments", "A hosted checkout with 3-D Secure, wallets and saved cards",
     "per_call", 5, 0, ["payments:read", "payments:write", "customers:write"], 2, (147, 51, 234)),
    ("Smart Retry", "smart-retry", "payments", "Recover failed subscription payments with timed, card-aware retries",
     "monthly", 9900, 0, ["payments:read", "payments:write", "subscriptions:read"], None, (219, 39, 119)),
    ("FX Guard", "fx-guard", "payments", "Lock FX quotes at checkout and settle in the customer's currency",
     "per_call", 3, 0, ["fx:read", "fx:write"], None, (13, 148, 136)),
    ("Revenue Lens", "revenue-lens", "analytics", "MRR, churn and cohort dashboards from your sandbox and live data",
     "monthly", 1900, 0, ["subscriptions:read", "payments:read", "reports:read"], 3, (234, 88, 12)),
    ("Cashflow Radar", "cashflow-radar", "analytics", "Forecast the next 90 days of cash from payments and payouts",
     "free", 0, 0, ["transactions:read", "payments:read"], None, (79, 70, 229)),
    ("CRM Connect", "crm-connect", "crm", "Customers and payments in your CRM timeline, both ways",
     "free", 0, 0, ["customers:read", "customers:write", "payments:read"], None, (190, 18, 60)),
    ("Churn Whisper", "churn-whisper", "crm", "Spot accounts about to cancel from their payment patterns",
     "per_call", 1, 0, ["customers:read", "subscriptions:read"], None, (100, 116, 139)),
    ("Fraud Shield", "fraud-shield", "security", "Risk scores and rules on every payment before you capture it",
     "per_call", 4, 0, ["payments:read", "credit:read"], None, (185, 28, 28)),
    ("Webhook Inspector", "webhook-inspector", "developer-tools", "Replay, diff and debug webhook deliveries locally",
     "free", 0, 0, ["webhooks:read"], None, (71, 85, 105)),
]  # fmt: skip

DEMO_CUSTOMERS = [  # developer organisations that install, use and review the demo integrations
    ("contoso", "Contoso Labs", "owner@contoso.test", "Cara Contoso"),
    ("globex", "Globex Engineering", "owner@globex.test", "Gil Globex"),
    ("initech", "Initech Payments", "owner@initech.test", "Ina Initech"),
]

DEMO_REVIEWS = [
    (5, "Set up in ten minutes", "Reconciliation used to take a day at month end; now it is done before we log in."),
    (4, "Solid, a few rough edges", "Does what it says. The settings page could explain the scopes better."),
    (5, "Our finance team loves it", "Clear reports, fast support, and the sandbox made testing painless."),
    (3, "Good start", "Works for us, but we would like CSV exports of everything it shows."),
]


def _demo_logo(name: str, colour: tuple[int, int, int]) -> bytes:
    """A flat square logo with the integration's initials, drawn locally."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (256, 256), colour)
    draw = ImageDraw.Draw(image)
    initials = "".join(word[0] for word in name.split()[:2]).upper()
    draw.text((128, 128), initials, fill=(255, 255, 255), anchor="mm", font_size=110)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _demo_screenshot(name: str, colour: tuple[int, int, int]) -> bytes:
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (1280, 800), (248, 250, 252))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 1280, 90), fill=colour)
    draw.text((40, 45), name, fill=(255, 255, 255), anchor="lm", font_size=44)
    for row in range(6):
        top = 140 + row * 105
        draw.rectangle((40, top, 1240, top + 80), outline=(203, 213, 225), width=3)
        draw.rectangle((60, top + 25, 60 + 120 + row * 140, top + 55), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _demo_calls(*, installation, count: int, start, end) -> None:
    """`count` captured API calls through an install, spread over [start, end), as the
    request capture would have written them; the install's usage counters follow."""
    import random

    from apikeys.models import RequestLog
    from marketplace.services import installation_record_calls

    if count <= 0 or end <= start:
        return
    rng = random.Random(f"{installation.public_id}-{start:%Y%m}")
    span = (end - start).total_seconds()
    routes = [("/api/v1/payments", "GET"), ("/api/v1/customers", "GET"), ("/api/v1/payments", "POST")]
    rows = []
    for _ in range(count):
        route, method = rng.choice(routes)
        rows.append(
            RequestLog(
                organization_id=installation.organization_id,
                credential_id=installation.integration.oauth_application.public_id,
                livemode=installation.environment == "live",
                route=route,
                method=method,
                status=rng.choice([200] * 18 + [201, 402]),
                latency_ms=rng.randint(8, 120),
                grant_id=installation.grant_id,
                created_at=start + timedelta(seconds=rng.uniform(0, span)),
            )
        )
    RequestLog.objects.bulk_create(rows, batch_size=500)
    last = max(row.created_at for row in rows)
    installation_record_calls(usage={installation.grant_id: (count, last)})


def seed_marketplace(world: DemoWorld) -> None:
    """A dozen published integrations from Ledgerly with logos, installs by three developer
    organisations and Northwind, their usage last month and this month, reviews with the
    partner's replies, and last month's period closed (payouts and statements), once."""
    from marketplace import services as marketplace_services
    from marketplace.models import BillingPeriod, Category, Installation, Integration

    partner = world.organizations["partner"]
    partner_owner = Membership.objects.get(organization=partner, user=world.users["owner@ledgerly.test"])
    staff = world.users["staff"]
    customers = {}
    for slug, name, email, full_name in DEMO_CUSTOMERS:
        owner = _user(email, full_name)
        customers[slug] = Membership.objects.get_or_create(
            user=owner, organization=_organization(slug, name, Organization.Kind.DEVELOPER, owner),
            defaults={"role": RoleName.OWNER},
        )[0]  # fmt: skip
        world.report["users"].append({"email": email, "role": "owner", "organization": slug})
    customers["northwind"] = Membership.objects.get(
        organization=world.organizations["developer"], user=world.users["owner@northwind.test"]
    )

    now = timezone.now()
    this_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = (this_month - timedelta(days=1)).date().replace(day=1)
    created = Integration.objects.filter(organization=partner).exists()
    for index, (name, slug, category, tagline, pricing, price, free_tier, scopes, rank, colour) in enumerate(
        DEMO_INTEGRATIONS
    ):
        if created:
            break
        integration, _secret = marketplace_services.integration_create(
            actor=partner_owner,
            name=name,
            slug=slug,
            tagline=tagline,
            description=(
                f"## What {name} does\n\n{tagline}.\n\n"
                "- Installs in a minute with an OAuth consent: you pick the organisation and environment.\n"
                "- Reads only what it asks for; uninstalling revokes its access at once.\n\n"
                f"[Documentation](https://ledgerly.example/docs/{slug})"
            ),
            category=Category.objects.get(slug=category),
            scopes=scopes,
            redirect_uris=[f"https://ledgerly.example/oauth/{slug}/callback"],
            environment="live",
            website_url=f"https://ledgerly.example/{slug}",
            docs_url=f"https://ledgerly.example/docs/{slug}",
            support_url="https://ledgerly.example/support",
            install_url=f"https://ledgerly.example/install/{slug}",
            pricing_model=pricing,
            price_minor=price,
            free_tier_calls=free_tier,
            release_notes="First public release.",
        )
        marketplace_services.integration_image_add(
            integration=integration, actor=partner_owner, kind="logo", upload=_demo_logo(name, colour)
        )
        if index < 4:
            marketplace_services.integration_image_add(
                integration=integration,
                actor=partner_owner,
                kind="screenshot",
                upload=_demo_screenshot(name, colour),
                caption=f"{name} overview",
            )
        marketplace_services.integration_submit(integration=integration, actor=partner_owner)
        integration = marketplace_services.integration_review(
            integration=integration, reviewer=staff, decision="publish"
        )
        published = now - timedelta(days=60 - index * 4)
        Integration.objects.filter(pk=integration.pk).update(published_at=published, featured_rank=rank)
        integration.versions.update(published_at=published)

    if not created:
        customer_list = list(customers.values())
        for index, integration in enumerate(Integration.objects.filter(organization=partner).order_by("pk")):
            # Most integrations are installed by two or three organisations, live; a few only in test.
            for offset, member in enumerate(customer_list):
                if (index + offset) % 3 == 2:
                    continue
                environment = "test" if (index + offset) % 5 == 4 else "live"
                installation = marketplace_services.installation_create(
                    integration=integration, actor=member, environment=environment, scopes=integration.scopes
                )
                recent = (index + offset) % 4 == 0
                installed_at = now - timedelta(days=3) if recent else this_month - timedelta(days=27 - offset)
                Installation.objects.filter(pk=installation.pk).update(installed_at=installed_at)
                installation.refresh_from_db()
                if not recent:
                    _demo_calls(
                        installation=installation, count=40 + 25 * ((index * 7 + offset) % 9),
                        start=installed_at, end=this_month,
                    )  # fmt: skip
                _demo_calls(
                    installation=installation, count=10 + 5 * ((index + offset) % 7),
                    start=max(this_month, installed_at), end=now,
                )  # fmt: skip
                if not recent and (index * 5 + offset) % 3 != 0:
                    rating, title, body = DEMO_REVIEWS[(index * 3 + offset) % len(DEMO_REVIEWS)]
                    review = marketplace_services.review_create(
                        actor=member, integration=integration, rating=rating, title=title, body=body
                    )
                    if rating <= 4:
                        marketplace_services.review_reply(
                            review=review,
                            actor=partner_owner,
                            body="Thank you! Exports and clearer scope help are on our roadmap for next month.",
                        )
        marketplace_services.billing_period_close(month=last_month, now=now)

    published = Integration.objects.filter(organization=partner, status=Integration.Status.PUBLISHED)
    world.report["marketplace"] = {
        "partner": partner.slug,
        "integrations": published.count(),
        "installations": Installation.objects.filter(integration__organization=partner).count(),
        "closed_periods": [str(p) for p in BillingPeriod.objects.filter(status=BillingPeriod.Status.CLOSED)],
    }


SEEDERS.append(seed_marketplace)
