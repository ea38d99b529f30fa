"""Installing an integration is an OAuth consent: the full flow with PKCE through the real
endpoints, the ways it must fail, uninstalling, the pages and the read API."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from oauth2_provider.models import AccessToken, Grant, RefreshToken

from accounts.models import AuditLog, Membership
from apikeys import capture
from apikeys.authentication import key_cache, token_cache
from apikeys.capture import request_logs_flush
from apikeys.models import DelegatedGrant, DelegatedGrantCredential, RequestLog
from apikeys.ratelimit import limiter
from marketplace import services
from marketplace.models import Installation, Integration
from payments_mock.selectors import Owner
from payments_mock.services import customer_create
from tests.apikeys.oauth_support import basic, pkce_pair
from tests.marketplace.install_factories import (
    CONSENT,
    REDIRECT_URI,
    approve,
    authorize_params,
    code_from,
    exchange,
    published_integration,
)

CUSTOMERS = "/api/v1/customers"


@pytest.fixture(autouse=True)
def hot_path(settings):
    settings.APIKEY_CAPTURE_BACKGROUND = False
    limiter.prefix = f"t{uuid.uuid4().hex[:12]}:"
    limiter._down_until = 0.0
    limiter.local.reset()
    key_cache.clear()
    token_cache.clear()
    capture.buffer.clear()
    yield
    key_cache.clear()
    token_cache.clear()
    capture.buffer.clear()
    limiter.local.reset()


@pytest.fixture
def listing(partners):
    return published_integration(partners.membership(partners.owner), partners.staff)


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}", "REMOTE_ADDR": "127.0.0.1"}


def install_and_exchange(client, world, listing, *, user=None, environment="test"):
    integration, secret = listing
    verifier, challenge = pkce_pair()
    client.force_login(user or world.owner)
    code = code_from(approve(client, integration, challenge, organization=world.org, environment=environment))
    client.logout()
    response = exchange(client, integration, secret, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()


# ---- the consent page ------------------------------------------------------------------------


def test_oauth_authorize_sends_an_integrations_request_to_the_marketplace_consent(client, world, listing):
    integration, _ = listing
    _, challenge = pkce_pair()
    client.force_login(world.owner)
    response = client.get("/oauth/authorize", authorize_params(integration, challenge))
    assert response.status_code == 302
    assert response["Location"].startswith(CONSENT + "?")
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["client_id"] == [integration.oauth_application.client_id]
    assert query["code_challenge"] == [challenge] and query["state"] == ["st-install"]


def test_the_consent_shows_the_integration_its_scopes_in_words_and_its_price(client, world, listing):
    integration, _ = listing
    _, challenge = pkce_pair()
    client.force_login(world.owner)
    response = client.get(CONSENT, authorize_params(integration, challenge))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Install Ledger Sync" in page and "Ledgerly" in page
    assert "Read customers" in page and "Read payments" in page
    assert "per call" in page
    assert world.org.name in page  # the organisation picker
    assert 'name="environment"' in page and 'value="live"' in page
    assert 'name="allow"' in page


def test_the_full_install_flow_acts_for_the_installing_organisation_and_counts_its_calls(
    client, world, partners, listing
):
    integration, secret = listing
    ours = customer_create(owner=Owner(organization_id=world.org.pk, livemode=False), email="a@acme.test")
    customer_create(owner=Owner(organization_id=world.org.pk, livemode=True), email="live@acme.test")
    customer_create(owner=Owner(organization_id=partners.org.pk, livemode=False), email="p@ledgerly.test")

    verifier, challenge = pkce_pair()
    client.force_login(world.teammate)  # a developer: holds installs:manage and both scopes
    code = code_from(approve(client, integration, challenge, organization=world.org))
    installation = Installation.objects.get()
    assert installation.organization == world.org and installation.environment == "test"
    assert installation.scopes == ["customers:read", "payments:read"] and installation.is_active
    assert installation.grant.organization == world.org
    assert installation.grant.application == integration.oauth_application
    assert DelegatedGrantCredential.objects.filter(grant=installation.grant, kind="code").count() == 1
    integration.refresh_from_db()
    assert integration.install_count == 1
    assert AuditLog.objects.filter(action="installation.created", organization=world.org).exists()

    client.logout()
    response = exchange(client, integration, secret, code, verifier)
    assert response.status_code == 200, response.content
    tokens = response.json()
    kinds = set(DelegatedGrantCredential.objects.filter(grant=installation.grant).values_list("kind", flat=True))
    assert kinds == {"code", "access", "refresh"}

    listed = client.get(CUSTOMERS, **bearer(tokens["access_token"]))
    assert listed.status_code == 200, listed.content
    assert [c["id"] for c in listed.json()["data"]] == [ours.public_id]  # Acme's test data only
    assert client.post(CUSTOMERS, {"email": "x@y.test"}, **bearer(tokens["access_token"])).status_code == 403

    assert request_logs_flush() >= 2
    logs = RequestLog.objects.filter(grant=installation.grant)
    assert logs.count() == 2
    assert set(logs.values_list("organization_id", flat=True)) == {world.org.pk}
    assert not logs.filter(livemode=True).exists()
    installation.refresh_from_db()
    assert installation.call_count == 2 and installation.last_call_at is not None
    assert DelegatedGrant.objects.get().last_used_at == installation.last_call_at

    # A refreshed token belongs to the same install.
    refreshed = client.post(
        "/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        HTTP_AUTHORIZATION=basic(integration.oauth_application.client_id, secret),
    )
    assert refreshed.status_code == 200
    assert client.get(CUSTOMERS, **bearer(refreshed.json()["access_token"])).status_code == 200
    request_logs_flush()
    installation.refresh_from_db()
    assert installation.call_count == 3


def test_a_live_install_sees_live_data(client, world, listing):
    live = customer_create(owner=Owner(organization_id=world.org.pk, livemode=True), email="live@acme.test")
    tokens = install_and_exchange(client, world, listing, environment="live")
    listed = client.get(CUSTOMERS, **bearer(tokens["access_token"]))
    assert [c["id"] for c in listed.json()["data"]] == [live.public_id]


def test_a_developer_cannot_install_in_live_without_keys_live(client, world, listing):
    integration, _ = listing
    _, challenge = pkce_pair()
    client.force_login(world.teammate)
    response = approve(client, integration, challenge, organization=world.org, environment="live")
    assert response.status_code == 400
    assert "keys:live" in response.content.decode()
    assert not Installation.objects.exists() and not Grant.objects.exists()


def test_denying_redirects_with_access_denied_and_installs_nothing(client, world, listing):
    integration, _ = listing
    _, challenge = pkce_pair()
    client.force_login(world.owner)
    no_allow = {**authorize_params(integration, challenge), "organization": world.org.public_id, "environment": "test"}
    response = client.post(CONSENT, no_allow)
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["error"] == ["access_denied"] and "code" not in query
    assert not Installation.objects.exists() and not Grant.objects.exists()


# ---- what must fail --------------------------------------------------------------------------


def test_an_unregistered_redirect_uri_is_never_redirected_to(client, world, listing):
    integration, _ = listing
    _, challenge = pkce_pair()
    client.force_login(world.owner)
    for uri in ("https://evil.example/callback", REDIRECT_URI + "/extra"):
        response = client.get(CONSENT, authorize_params(integration, challenge, redirect_uri=uri))
        assert response.status_code != 302, uri
        assert "can't be used" in response.content.decode()
        response = approve(client, integration, challenge, organization=world.org, redirect_uri=uri)
        assert response.status_code != 302, uri
    assert not Installation.objects.exists() and not Grant.objects.exists()


def test_a_wrong_pkce_verifier_is_refused(client, world, listing):
    integration, secret = listing
    _, challenge = pkce_pair()
    client.force_login(world.owner)
    code = code_from(approve(client, integration, challenge, organization=world.org))
    other_verifier, _ = pkce_pair()
    response = exchange(client, integration, secret, code, other_verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()


def test_a_code_used_twice_is_refused_and_revokes_the_first_tokens(
    client, world, listing, django_capture_on_commit_callbacks
):
    integration, secret = listing
    verifier, challenge = pkce_pair()
    client.force_login(world.owner)
    code = code_from(approve(client, integration, challenge, organization=world.org))
    first = exchange(client, integration, secret, code, verifier)
    token = first.json()["access_token"]
    assert client.get(CUSTOMERS, **bearer(token)).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        second = exchange(client, integration, secret, code, verifier)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    assert client.get(CUSTOMERS, **bearer(token)).status_code == 401
    assert not AccessToken.objects.exists()


def test_a_scope_beyond_the_installers_own_is_refused(client, world, partners):
    integration, _ = published_integration(
        partners.membership(partners.owner), partners.staff, scopes=("customers:read", "members:manage")
    )
    _, challenge = pkce_pair()
    client.force_login(world.teammate)  # a developer: no members:manage
    page = client.get(CONSENT, authorize_params(integration, challenge, scope="customers:read members:manage"))
    assert "lacks members:manage" in page.content.decode()
    response = approve(client, integration, challenge, organization=world.org, scope="customers:read members:manage")
    assert response.status_code == 400
    assert "lacks members:manage" in response.content.decode()
    assert not Installation.objects.exists() and not DelegatedGrant.objects.exists() and not Grant.objects.exists()


def test_a_scope_the_integration_does_not_list_is_refused(client, world, listing):
    integration, _ = listing
    _, challenge = pkce_pair()
    client.force_login(world.owner)
    response = approve(client, integration, challenge, organization=world.org, scope="customers:read refunds:write")
    assert "code=" not in response.get("Location", "")
    assert not Installation.objects.exists() and not Grant.objects.exists()


def test_a_member_without_installs_manage_cannot_install(client, world, listing):
    integration, _ = listing
    _, challenge = pkce_pair()
    client.force_login(world.read_only)
    page = client.get(CONSENT, authorize_params(integration, challenge, scope="customers:read"))
    html = page.content.decode()
    assert "installs:manage" in html and 'name="allow"' not in html
    response = approve(client, integration, challenge, organization=world.org, scope="customers:read")
    assert response.status_code == 400
    assert not Installation.objects.exists() and not Grant.objects.exists()


def test_an_outsider_cannot_install_into_an_organisation_they_are_not_in(client, world, listing):
    integration, _ = listing
    _, challenge = pkce_pair()
    client.force_login(world.outsider)
    response = approve(client, integration, challenge, organization=world.org)
    assert response.status_code == 400
    assert not Installation.objects.filter(organization=world.org).exists()


def test_an_unpublished_integrations_application_cannot_be_authorised(client, world, partners):
    integration, _ = published_integration(partners.membership(partners.owner), partners.staff, publish=False)
    _, challenge = pkce_pair()
    client.force_login(world.owner)
    page = client.get(CONSENT, authorize_params(integration, challenge))
    assert page.status_code == 404 and "can't be installed" in page.content.decode()
    assert approve(client, integration, challenge, organization=world.org).status_code == 404
    # Nor through the plain consent: an integration's application is authorised only by installing it.
    direct = client.post("/oauth/authorize", {**authorize_params(integration, challenge), "allow": "Authorize"})
    assert "code=" not in direct.get("Location", "")
    assert not Installation.objects.exists() and not Grant.objects.exists()


# ---- installing twice, uninstalling ---------------------------------------------------------


def test_installing_twice_reuses_the_install_and_counts_once(client, world, listing):
    integration, _ = listing
    install_and_exchange(client, world, listing)
    install_and_exchange(client, world, listing)
    assert Installation.objects.count() == 1 and DelegatedGrant.objects.count() == 1
    integration.refresh_from_db()
    assert integration.install_count == 1
    install_and_exchange(client, world, listing, environment="live")
    integration.refresh_from_db()
    assert integration.install_count == 2


def test_uninstalling_revokes_every_token_at_once(client, world, partners, listing, django_capture_on_commit_callbacks):
    integration, secret = listing
    tokens = install_and_exchange(client, world, listing)
    again = install_and_exchange(client, world, listing)  # a second token pair under the same install
    for access in (tokens["access_token"], again["access_token"]):
        assert client.get(CUSTOMERS, **bearer(access)).status_code == 200  # now cached in this process
    installation = Installation.objects.get()
    mail.outbox.clear()

    client.force_login(world.admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/marketplace/installed/{installation.public_id}/uninstall/")
    assert response.status_code == 302
    client.logout()
    for access in (tokens["access_token"], again["access_token"]):
        assert client.get(CUSTOMERS, **bearer(access)).status_code == 401
    refresh = client.post(
        "/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        HTTP_AUTHORIZATION=basic(integration.oauth_application.client_id, secret),
    )
    assert refresh.status_code == 400
    assert not AccessToken.objects.exists() and not RefreshToken.objects.exists()
    installation.refresh_from_db()
    assert installation.status == "uninstalled" and installation.uninstalled_by == world.admin
    assert installation.grant.revoked_at is not None
    integration.refresh_from_db()
    assert integration.install_count == 0
    assert AuditLog.objects.filter(action="installation.uninstalled", organization=world.org).exists()
    assert [m.subject for m in mail.outbox] == ["Acme Payments uninstalled Ledger Sync"]
    assert mail.outbox[0].to == ["owner@ledgerly.test"]


def test_a_pending_code_of_an_uninstalled_install_buys_nothing(client, world, listing):
    integration, secret = listing
    verifier, challenge = pkce_pair()
    client.force_login(world.owner)
    code = code_from(approve(client, integration, challenge, organization=world.org))
    services.installation_uninstall(installation=Installation.objects.get(), actor=world.membership(world.owner))
    response = exchange(client, integration, secret, code, verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_uninstalling_twice_is_refused_and_counts_stay_right(world, listing):
    integration, _ = listing
    owner = world.membership(world.owner)
    installation = services.installation_create(
        integration=integration, actor=owner, environment="test", scopes=["customers:read"]
    )
    services.installation_uninstall(installation=installation, actor=owner)
    with pytest.raises(Exception, match="already uninstalled"):
        services.installation_uninstall(installation=installation, actor=owner)
    integration.refresh_from_db()
    assert integration.install_count == 0
    # Installing again after an uninstall is a new install.
    again = services.installation_create(
        integration=integration, actor=owner, environment="test", scopes=["customers:read"]
    )
    assert again.pk != installation.pk
    integration.refresh_from_db()
    assert integration.install_count == 1


def test_a_member_without_installs_manage_cannot_uninstall(client, world, listing):
    integration, _ = listing
    installation = services.installation_create(
        integration=integration, actor=world.membership(world.owner), environment="test", scopes=["customers:read"]
    )
    client.force_login(world.read_only)
    assert client.post(f"/marketplace/installed/{installation.public_id}/uninstall/").status_code == 403
    installation.refresh_from_db()
    assert installation.is_active


# ---- pages -----------------------------------------------------------------------------------


def test_the_installed_page_lists_what_each_install_may_do(client, world, listing, django_assert_max_num_queries):
    integration, _ = listing
    install_and_exchange(client, world, listing)
    client.force_login(world.read_only)  # installs:read, not installs:manage
    with django_assert_max_num_queries(12):
        response = client.get("/marketplace/installed/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Ledger Sync" in page and "Read customers" in page and "Read payments" in page
    assert "owner@acme.test" in page and "Never" in page
    assert "Uninstall" not in page  # read-only


def test_another_organisations_installation_is_a_404_on_the_page_and_the_api(client, world, listing):
    integration, _ = listing
    installation = services.installation_create(
        integration=integration, actor=world.membership(world.owner), environment="test", scopes=["customers:read"]
    )
    client.force_login(world.outsider)
    assert client.post(f"/marketplace/installed/{installation.public_id}/uninstall/").status_code == 404
    assert client.get(f"/api/v1/marketplace/installations/{installation.public_id}").status_code == 404
    assert client.get("/api/v1/marketplace/installations").json()["data"] == []
    assert "Ledger Sync" not in client.get("/marketplace/installed/").content.decode()
    installation.refresh_from_db()
    assert installation.is_active


def test_the_partner_sees_its_installs(client, world, partners, listing):
    integration, _ = listing
    services.installation_create(
        integration=integration, actor=world.membership(world.owner), environment="test", scopes=["customers:read"]
    )
    client.force_login(partners.developer)
    page = client.get("/marketplace/partner/installs/").content.decode()
    assert "Acme Payments" in page and "Ledger Sync" in page and "Active" in page
    client.force_login(world.owner)  # Acme is not the partner: it sees no one's installs
    page = client.get("/marketplace/partner/installs/").content.decode()
    assert "No installs yet" in page and "data-installation" not in page


def test_the_install_button_links_to_the_partners_install_url(client, world, partners):
    integration, _ = published_integration(
        partners.membership(partners.owner),
        partners.staff,
        install_url="https://ledgerly.example/install",
        website_url="https://ledgerly.example",
    )
    client.force_login(world.owner)
    page = client.get(f"/marketplace/integrations/{integration.slug}/").content.decode()
    assert 'href="https://ledgerly.example/install"' in page and "data-install" in page
    Integration.objects.filter(pk=integration.pk).update(install_url="")
    page = client.get(f"/marketplace/integrations/{integration.slug}/").content.decode()
    assert "Installation starts from Ledgerly" in page and "data-install" not in page


# ---- API -------------------------------------------------------------------------------------


def test_the_api_lists_and_reads_the_callers_installations(client, world, listing):
    integration, _ = listing
    installation = services.installation_create(
        integration=integration, actor=world.membership(world.owner), environment="test", scopes=["customers:read"]
    )
    client.force_login(world.read_only)
    listed = client.get("/api/v1/marketplace/installations")
    assert listed.status_code == 200
    body = listed.json()
    assert body["meta"]["total"] == 1
    row = body["data"][0]
    assert row["id"] == installation.public_id and row["integration"]["name"] == "Ledger Sync"
    assert row["scopes"] == [{"code": "customers:read", "description": "Read customers"}]
    assert row["environment"] == "test" and row["status"] == "active" and row["call_count"] == 0
    detail = client.get(f"/api/v1/marketplace/installations/{installation.public_id}")
    assert detail.status_code == 200 and detail.json()["id"] == installation.public_id
    bad = client.get("/api/v1/marketplace/installations?status=gone")
    assert bad.status_code == 400 and bad["Content-Type"].startswith("application/problem+json")


def test_the_api_needs_installs_read(client, world, listing):
    tokens = install_and_exchange(client, world, listing)  # customers:read, payments:read only
    response = client.get("/api/v1/marketplace/installations", **bearer(tokens["access_token"]))
    assert response.status_code == 403
    assert client.get("/api/v1/marketplace/installations").status_code in (401, 403)


def test_an_api_key_sees_only_its_environments_installs(client, world, listing):
    from apikeys.services import apikey_create

    integration, _ = listing
    owner = world.membership(world.owner)
    services.installation_create(integration=integration, actor=owner, environment="live", scopes=["customers:read"])
    _, secret = apikey_create(
        organization=world.org, actor_membership=owner, name="ci", environment="test", scopes=["installs:read"]
    )
    response = client.get("/api/v1/marketplace/installations", **bearer(secret))
    assert response.status_code == 200 and response.json()["data"] == []


def test_membership_fixture_sanity(world):
    assert Membership.objects.get(user=world.read_only).has_perm("installs:read")


def test_staff_can_uninstall_from_admin(client, world, partners, listing):
    integration, _ = listing
    installation = services.installation_create(
        integration=integration, actor=world.membership(world.owner), environment="test", scopes=["customers:read"]
    )
    partners.staff.is_superuser = True
    partners.staff.save(update_fields=["is_superuser"])
    client.force_login(partners.staff)
    response = client.post(
        "/admin/marketplace/installation/",
        {"action": "uninstall", "_selected_action": [installation.pk]},
    )
    assert response.status_code == 302
    installation.refresh_from_db()
    assert installation.status == "uninstalled" and installation.uninstalled_by == partners.staff
