"""A member approves an OAuth application on the consent page in a real browser, at desktop
and phone widths, and the application exchanges the code (with its PKCE verifier) for a token."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client

from tests.apikeys.oauth_support import exchange_code, pkce_pair
from tests.e2e.conftest import fits, shot, sign_in_as
from tests.factories import make_org, make_user


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_a_member_approves_an_application_and_it_gets_a_code(new_page, live_server, phone, settings):
    from apikeys.services import oauth_application_create

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    owner = make_user("owner@acme.test", full_name="Olivia Owner")
    organization = make_org("Acme Payments", owner=owner)
    membership = organization.memberships.get(user=owner)
    redirect_uri = f"{live_server.url}/healthz"
    application, secret = oauth_application_create(
        organization=organization,
        actor_membership=membership,
        name="Ledgerly Books",
        environment="test",
        grant_type="authorization_code",
        redirect_uris=[redirect_uri],
        scopes=["payments:read", "customers:read"],
    )
    verifier, challenge = pkce_pair()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": application.client_id,
            "redirect_uri": redirect_uri,
            "scope": "payments:read customers:read",
            "state": "browser-state",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )

    page = new_page(phone=phone)
    sign_in_as(page, live_server, owner)
    page.goto(f"/oauth/authorize?{query}")
    assert page.get_by_role("heading", name="Authorise Ledgerly Books").is_visible()
    assert page.get_by_text("Read payments").is_visible()
    assert page.get_by_text("Read customers").is_visible()
    assert page.get_by_text("Test data only").is_visible()
    assert fits(page)
    shot(page, "oauth-consent")

    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{redirect_uri}?*")
    landed = parse_qs(urlsplit(page.url).query)
    assert landed["state"] == ["browser-state"]

    response = exchange_code(Client(), application, secret, landed["code"][0], verifier, redirect_uri=redirect_uri)
    assert response.status_code == 200, response.content
    assert set(response.json()["scope"].split()) == {"payments:read", "customers:read"}
