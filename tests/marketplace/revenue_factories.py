"""Builders for revenue tests: paid integrations, installs backed by a DelegatedGrant, and calls
through an install as RequestLog rows (what the request capture writes)."""

from __future__ import annotations

from datetime import UTC, datetime

from accounts.models import Membership, Organization
from apikeys.models import DelegatedGrant, RequestLog
from marketplace.models import Installation, Integration
from tests.marketplace.conftest import create

# A month safely in the past, so it can be closed whenever the tests run.
MONTH = datetime(2025, 3, 1, tzinfo=UTC).date()
IN_MONTH = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
BEFORE_MONTH = datetime(2025, 2, 20, 12, 0, tzinfo=UTC)
AFTER_MONTH = datetime(2025, 4, 2, 12, 0, tzinfo=UTC)
# "Now" for closing MONTH (any moment in a later month) and for previewing it (inside it).
CLOSE_AT = datetime(2025, 4, 1, 0, 30, tzinfo=UTC)
PREVIEW_AT = datetime(2025, 3, 31, 23, 0, tzinfo=UTC)


def paid_integration(
    membership: Membership,
    *,
    name: str = "Ledger Sync",
    pricing_model: str = "per_call",
    price_minor: int = 3,
    currency: str = "USD",
    free_tier_calls: int = 0,
) -> Integration:
    return create(
        membership,
        name=name,
        pricing_model=pricing_model,
        price_minor=price_minor,
        currency=currency,
        free_tier_calls=free_tier_calls,
    )


def install(
    integration: Integration,
    organization: Organization,
    *,
    environment: str = "live",
    installed_at: datetime = BEFORE_MONTH,
    uninstalled_at: datetime | None = None,
) -> Installation:
    grant = DelegatedGrant.objects.create(
        application=integration.oauth_application,
        organization=organization,
        environment=environment,
        scopes=list(integration.scopes),
        created_at=installed_at,
        revoked_at=uninstalled_at,
    )
    return Installation.objects.create(
        integration=integration,
        organization=organization,
        environment=environment,
        scopes=list(integration.scopes),
        grant=grant,
        installed_at=installed_at,
        status=Installation.Status.UNINSTALLED if uninstalled_at else Installation.Status.ACTIVE,
        uninstalled_at=uninstalled_at,
    )


def calls(installation: Installation, count: int, *, at: datetime = IN_MONTH, status: int = 200) -> None:
    RequestLog.objects.bulk_create(
        [
            RequestLog(
                organization=installation.organization,
                livemode=installation.environment == "live",
                route="/api/v1/payments",
                method="GET",
                status=status,
                latency_ms=12,
                grant=installation.grant,
                created_at=at,
            )
            for _ in range(count)
        ]
    )
