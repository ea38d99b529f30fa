"""The marketplace end to end in one real browser session per person: staff verify a partner,
the partner creates an integration and submits it, staff approve it, a developer finds it by
search and installs it on the consent page, the partner's app exchanges the code for a token
(PKCE) and calls the sandbox API, the developer reviews it, the month closes and the partner's
statement shows its share of what the developer was charged."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import PartnerProfile
from apikeys.capture import request_logs_flush
from marketplace import services
from marketplace.models import Installation, Integration, LedgerEntry, Review, Statement
from tests.apikeys.oauth_support import exchange_code, pkce_pair
from tests.e2e.conftest import assert_fits, shot, sign_in
from tests.factories import PASSWORD, make_org, make_user
from tests.marketplace.conftest import VERIFIED_PROFILE

PARTNER_SITE = "http://127.0.0.1:9"  # the partner's app: nothing listens, the browser test plays it
CALLBACK = f"{PARTNER_SITE}/ledgerly/callback"
INSTALL_URL = f"{PARTNER_SITE}/ledgerly/install"
PRICE_PER_CALL = "2.50"
CALLS = 3


@pytest.fixture
def people(settings, live_server, transactional_db):
    settings.PORTAL_BASE_URL = live_server.url
    settings.APIKEY_CAPTURE_BACKGROUND = False
    partner = make_user("owner@ledgerly.test", full_name="Lee Ledger")
    partner_org = make_org("Ledgerly", owner=partner, kind="partner")
    # The partner filled in its profile and submitted it (the accounts flow has its own browser test).
    PartnerProfile.objects.filter(organization=partner_org).update(
        **VERIFIED_PROFILE, verification_status=PartnerProfile.Verification.PENDING, submitted_at=timezone.now()
    )
    staff = make_user("staff@portal.test", full_name="Sam Staff", is_staff=True, is_superuser=True)
    developer = make_user("dev@acme.test", full_name="Dana Developer")
    acme = make_org("Acme Payments", owner=developer)
    return {"partner": partner, "partner_org": partner_org, "staff": staff, "developer": developer, "acme": acme}


def test_from_a_verified_partner_to_a_statement_with_its_revenue_share(new_page, people):
    partner_org, acme = people["partner_org"], people["acme"]

    # Staff verify the partner in Django admin.
    staff = new_page()
    sign_in(staff, "staff@portal.test", PASSWORD)
    staff.goto("/admin/accounts/partnerprofile/")
    staff.locator("tr", has_text="Ledgerly").locator("input.action-select").check()
    staff.select_option("select[name=action]", "verify_selected")
    staff.click("button[name=index]")
    staff.wait_for_selector("text=Verified 1 partner(s)")
    assert PartnerProfile.objects.get(organization=partner_org).is_verified

    # The partner creates the integration, priced per call, and submits it.
    partner = new_page()
    sign_in(partner, "owner@ledgerly.test", PASSWORD)
    partner.goto("/marketplace/partner/integrations/new/")
    partner.fill("input[name=name]", "Ledger Sync")
    partner.fill("input[name=tagline]", "Sync every payment into your accounting ledger")
    partner.select_option("select[name=category]", label="Accounting")
    partner.fill("textarea[name=description]", "Keeps **every payment** in your books.")
    partner.click("summary:has-text('Sandbox')")
    partner.check("input[name=scopes][value='customers:read']")
    partner.fill("textarea[name=redirect_uris]", CALLBACK)
    partner.fill("input[name=install_url]", INSTALL_URL)
    partner.select_option("select[name=pricing_model]", "per_call")
    partner.fill("input[name=price]", PRICE_PER_CALL)
    partner.click("button:has-text('Create integration')")
    partner.wait_for_selector("text=is saved as a draft")
    secret = partner.locator("[data-secret], code.secret, .secret code").first.inner_text().strip()
    integration = Integration.objects.get(slug="ledger-sync")
    assert secret and integration.price_minor == 250
    partner.click("text=I've stored it")
    partner.click("button:has-text('Submit for review')")
    partner.wait_for_selector("text=Submitted for review")

    # Staff approve it from the review queue.
    staff.goto("/marketplace/review/")
    staff.click("text=Ledger Sync")
    staff.select_option("select[name=decision]", "publish")
    staff.click("button:has-text('Record decision'), button[type=submit]:visible >> nth=-1")
    staff.wait_for_selector("text=published")
    integration.refresh_from_db()
    assert integration.status == Integration.Status.PUBLISHED

    # The developer finds it by search and installs it; the partner's app starts the OAuth flow.
    developer = new_page()
    sign_in(developer, "dev@acme.test", PASSWORD)
    developer.goto("/marketplace/")
    developer.fill("input[name=q]", "ledger")
    developer.keyboard.press("Enter")
    developer.wait_for_url("**/marketplace/search/**")
    developer.get_by_role("link", name="Ledger Sync").first.click()
    developer.wait_for_url("**/marketplace/integrations/ledger-sync/")

    verifier, challenge = pkce_pair()
    authorize = "/oauth/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": integration.oauth_application.client_id,
            "redirect_uri": CALLBACK,
            "scope": "customers:read",
            "state": "journey",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    landed: list[str] = []

    def partner_app(route):
        if route.request.url.startswith(INSTALL_URL):
            route.fulfill(status=302, headers={"Location": f"{_origin(developer)}{authorize}"})
        else:
            landed.append(route.request.url)
            route.fulfill(status=200, content_type="text/html", body="<h1>Ledger Sync is connected</h1>")

    developer.route(f"{PARTNER_SITE}/**", partner_app)
    developer.locator("a[data-install]").click()
    developer.wait_for_url("**/marketplace/install/authorize**")
    assert developer.get_by_text("Read customers").is_visible()
    developer.select_option("#authorizationForm select[name=organization]", label="Acme Payments")
    developer.check("input[name=environment][value=live]")
    assert_fits(developer)
    developer.get_by_role("button", name="Approve and install").click()
    developer.wait_for_selector("text=Ledger Sync is connected")
    query = parse_qs(urlsplit(landed[0]).query)
    assert query["state"] == ["journey"]

    # The partner's server exchanges the code with the PKCE verifier and calls the sandbox API.
    app = Client()
    token = exchange_code(app, integration.oauth_application, secret, query["code"][0], verifier, redirect_uri=CALLBACK)
    assert token.status_code == 200, token.content
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token.json()['access_token']}", "REMOTE_ADDR": "127.0.0.1"}
    for _ in range(CALLS):
        assert app.get("/api/v1/customers", **auth).status_code == 200
    request_logs_flush()
    installation = Installation.objects.get(integration=integration)
    assert (installation.organization, installation.environment, installation.call_count) == (acme, "live", CALLS)

    # The developer reviews it.
    developer.goto("/marketplace/integrations/ledger-sync/")
    developer.get_by_role("link", name="Write a review").click()
    developer.check("input[name=rating][value='5']")
    developer.fill("textarea[name=body]", "Reconciled our first month in minutes.")
    developer.get_by_role("button", name="Publish your review").click()
    developer.wait_for_selector("text=Reconciled our first month in minutes.")
    assert Review.objects.get(integration=integration).rating == 5
    shot(developer, "marketplace-journey-reviewed")

    # The month closes (as the beat task would on the 1st) and the partner reads its statement.
    next_month = (timezone.now().replace(day=1) + timedelta(days=32)).replace(day=1)
    result = services.billing_period_close(month=timezone.now().date(), now=next_month)
    assert result.closed_now
    charge = CALLS * 250
    share = charge * 8000 // 10000
    statement = Statement.objects.get(organization=partner_org, kind="partner")
    assert statement.total_minor == share
    assert LedgerEntry.objects.get(kind="charge").amount_minor in (charge, -charge)
    partner.goto("/marketplace/statements/")
    row = partner.locator(f"tr[data-statement='{statement.public_id}']")
    assert "6.00" in row.inner_text() and "Partner statement" in row.inner_text(), row.inner_text()
    with partner.expect_download() as download:
        row.get_by_role("link", name="CSV").click()
    assert "Ledger Sync" in download.value.path().read_text()
    assert_fits(partner)
    shot(partner, "marketplace-journey-statement")


def _origin(page) -> str:
    parts = urlsplit(page.url)
    return f"{parts.scheme}://{parts.netloc}"
