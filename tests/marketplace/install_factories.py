"""Helpers for the install tests: a published integration with its client secret, the
authorize query a partner's app would build, approving on the consent page and exchanging
the code at /oauth/token."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from accounts.models import Membership
from marketplace import services
from marketplace.models import Category, Integration
from tests.apikeys.oauth_support import exchange_code

REDIRECT_URI = "https://ledgerly.example/oauth/callback"
CONSENT = "/marketplace/install/authorize"


def published_integration(
    partner_membership: Membership,
    staff,
    *,
    scopes=("customers:read", "payments:read"),
    redirect_uris=(REDIRECT_URI,),
    publish: bool = True,
    **overrides,
) -> tuple[Integration, str]:
    """A (published) integration of the partner and its OAuth client secret."""
    values = {
        "name": "Ledger Sync",
        "tagline": "Sync payments into your accounting ledger",
        "description": "Keeps **every payment** in your books.",
        "category": Category.objects.get(slug="accounting"),
        "scopes": list(scopes),
        "redirect_uris": list(redirect_uris),
        "pricing_model": "per_call",
        "price_minor": 2,
        "currency": "USD",
    }
    values.update(overrides)
    integration, secret = services.integration_create(actor=partner_membership, **values)
    if publish:
        services.integration_submit(integration=integration, actor=partner_membership)
        integration = services.integration_review(integration=integration, reviewer=staff, decision="publish")
    integration.refresh_from_db()
    return integration, secret


def authorize_params(
    integration: Integration, challenge: str, *, scope="customers:read payments:read", redirect_uri=REDIRECT_URI
):
    return {
        "response_type": "code",
        "client_id": integration.oauth_application.client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": "st-install",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


def approve(client, integration, challenge, *, organization, environment="test", **options):
    """POST the consent; the response (a redirect to the partner with a code when it worked)."""
    return client.post(
        CONSENT,
        {
            **authorize_params(integration, challenge, **options),
            "organization": organization.public_id,
            "environment": environment,
            "allow": "Authorize",
        },
    )


def code_from(response) -> str:
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"].startswith(REDIRECT_URI), response["Location"]
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["state"] == ["st-install"]
    return query["code"][0]


def exchange(client, integration, secret, code, verifier):
    return exchange_code(client, integration.oauth_application, secret, code, verifier, REDIRECT_URI)
