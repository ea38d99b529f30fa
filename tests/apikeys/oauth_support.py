"""Helpers shared by the OAuth tests: applications, token requests and PKCE pairs."""

from __future__ import annotations

import base64
import hashlib
import secrets

from apikeys.services import oauth_application_create

REDIRECT_URI = "http://127.0.0.1:8765/callback"


def make_application(
    world,
    *,
    user=None,
    org=None,
    grant_type="client_credentials",
    environment="test",
    scopes=("keys:read", "payments:read"),
    redirect_uris=None,
    name="Ledger sync",
):
    membership = world.membership(user or world.owner, org)
    if redirect_uris is None:
        redirect_uris = [REDIRECT_URI] if grant_type == "authorization_code" else []
    return oauth_application_create(
        organization=membership.organization,
        actor_membership=membership,
        name=name,
        environment=environment,
        grant_type=grant_type,
        redirect_uris=list(redirect_uris),
        scopes=list(scopes),
    )


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def request_token(client, application, secret, **data):
    """POST /oauth/token authenticating the client with HTTP Basic."""
    data.setdefault("grant_type", "client_credentials")
    return client.post("/oauth/token", data, HTTP_AUTHORIZATION=basic(application.client_id, secret))


def exchange_code(client, application, secret, code, verifier, redirect_uri=REDIRECT_URI):
    """What a partner's server does with an authorization code: POST /oauth/token with the PKCE verifier."""
    return request_token(
        client,
        application,
        secret,
        grant_type="authorization_code",
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=verifier,
    )


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge
