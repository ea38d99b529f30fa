"""Installing an integration in a real browser, at desktop and phone widths: a developer
signs in, the partner's app sends them to the consent with a PKCE challenge, they pick the
organisation and environment and approve; the partner's redirect URI receives the code
(intercepted here, as the partner's server would), the app exchanges it and calls the API
as the installing organisation; the installed page lists it and uninstalling cuts it off.
The partner sees the install on its own page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client

from marketplace import services
from marketplace.models import Category, Installation
from tests.apikeys.oauth_support import exchange_code, pkce_pair
from tests.e2e.conftest import fits, shot, sign_in
from tests.factories import PASSWORD, add_member, make_org, make_user
from tests.marketplace.conftest import verify

PARTNER_CALLBACK = "http://127.0.0.1:9/ledgerly/callback"  # nothing listens: the browser test intercepts it


@pytest.fixture
def world(settings, live_server, transactional_db):
    settings.PORTAL_BASE_URL = live_server.url
    settings.APIKEY_CAPTURE_BACKGROUND = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    partner = make_user("owner@ledgerly.test", full_name="Lee Ledger")
    partner_org = make_org("Ledgerly", owner=partner, kind="partner")
    verify(partner_org)
    staff = make_user("staff@portal.test", is_staff=True)
    membership = partner_org.memberships.get(user=partner)
    integration, secret = services.integration_create(
        actor=membership,
        name="Ledger Sync",
        tagline="Sync payments into your accounting ledger",
        description="Keeps **every payment** in your books.",
        category=Category.objects.get(slug="accounting"),
        scopes=["customers:read", "payments:read"],
        redirect_uris=[PARTNER_CALLBACK],
        pricing_model="per_call",
        price_minor=2,
        currency="USD",
    )
    services.integration_submit(integration=integration, actor=membership)
    integration = services.integration_review(integration=integration, reviewer=staff, decision="publish")
    developer = make_user("dev@acme.test", full_name="Dana Developer")
    acme = make_org("Acme Payments", owner=make_user("owner@acme.test"))
    add_member(acme, developer, "developer")
    make_org("Side Project", owner=developer)  # a second organisation to choose from
    return {"integration": integration, "secret": secret, "developer": developer, "acme": acme, "partner": partner}


def _authorize_query(integration, challenge: str) -> str:
    return urlencode(
        {
            "response_type": "code",
            "client_id": integration.oauth_application.client_id,
            "redirect_uri": PARTNER_CALLBACK,
            "scope": "customers:read payments:read",
            "state": "browser-state",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_a_developer_installs_an_integration_and_uninstalls_it(new_page, world, phone):
    integration, secret = world["integration"], world["secret"]
    page = new_page(phone=phone)
    sign_in(page, "dev@acme.test", PASSWORD)
    page.wait_for_url("**/dashboard/")

    landed: list[str] = []

    def partner_server(route):
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>Connected to Ledger Sync</h1>")

    page.route("http://127.0.0.1:9/**", partner_server)

    verifier, challenge = pkce_pair()
    page.goto(f"/oauth/authorize?{_authorize_query(integration, challenge)}")  # the partner's install link
    assert "/marketplace/install/authorize" in page.url
    assert page.get_by_role("heading", name="Install Ledger Sync").is_visible()
    assert page.get_by_text("Read customers").is_visible()
    assert page.get_by_text("Read payments").is_visible()
    assert "per call" in page.locator("[data-price]").inner_text()
    page.select_option("#authorizationForm select[name=organization]", label="Acme Payments")
    page.check("input[name=environment][value=test]")
    assert fits(page)
    shot(page, "marketplace-install-consent")

    page.get_by_role("button", name="Approve and install").click()
    page.wait_for_selector("text=Connected to Ledger Sync")  # the partner's page, intercepted
    query = parse_qs(urlsplit(landed[0]).query)
    assert query["state"] == ["browser-state"]

    api = Client()
    response = exchange_code(
        api, integration.oauth_application, secret, query["code"][0], verifier, redirect_uri=PARTNER_CALLBACK
    )
    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}", "REMOTE_ADDR": "127.0.0.1"}
    assert api.get("/api/v1/customers", **auth).status_code == 200
    installation = Installation.objects.get()
    assert installation.organization == world["acme"] and installation.environment == "test"

    # The session acts for Acme Payments (the first of the developer's organisations by name).
    page.goto("/marketplace/")
    if phone:
        page.click("label.nav-toggle-label")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Installed", exact=True).click()
    page.wait_for_url("**/marketplace/installed/")
    card = page.locator(f"[data-installation='{installation.public_id}']")
    assert card.get_by_role("link", name="Ledger Sync").is_visible()
    assert card.get_by_text("Read customers").is_visible()
    assert card.locator(".badge-test").is_visible()
    assert fits(page)
    shot(page, "marketplace-installed")

    card.get_by_role("button", name="Uninstall").click()
    page.wait_for_selector("text=is uninstalled")
    assert not page.locator(f"[data-installation='{installation.public_id}']").count()
    assert api.get("/api/v1/customers", **auth).status_code == 401
    installation.refresh_from_db()
    assert installation.status == "uninstalled"


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_a_partner_sees_who_installed_its_integration(new_page, world, phone):
    acme = world["acme"]
    services.installation_create(
        integration=world["integration"],
        actor=acme.memberships.get(user=world["developer"]),
        environment="test",
        scopes=["customers:read"],
    )
    page = new_page(phone=phone)
    sign_in(page, "owner@ledgerly.test", PASSWORD)
    page.wait_for_url("**/dashboard/")
    page.goto("/marketplace/partner/installs/")
    row = page.locator("tr[data-installation]")
    assert row.count() == 1
    assert "Acme Payments" in row.inner_text() and "Active" in row.inner_text()
    assert fits(page)
    shot(page, "marketplace-partner-installs")
