"""The authorization code grant with PKCE: consent, code exchange, refresh and the ways it must fail."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from oauth2_provider.models import AccessToken, Grant

from tests.apikeys.oauth_support import REDIRECT_URI, basic, exchange_code, make_application, pkce_pair

CURRENT = "/api/v1/keys/current"


@pytest.fixture
def app(world):
    return make_application(
        world, grant_type="authorization_code", scopes=["keys:read", "payments:read", "payments:write"]
    )


def params(application, challenge, *, scope="keys:read payments:read", redirect_uri=REDIRECT_URI, **extra):
    values = {
        "response_type": "code",
        "client_id": application.client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": "st-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    values.update(extra)
    return {k: v for k, v in values.items() if v is not None}


def approve(client, application, challenge, **options) -> str:
    """Approve on the consent page; the code from the redirect."""
    response = client.post("/oauth/authorize", {**params(application, challenge, **options), "allow": "Authorize"})
    assert response.status_code == 302, response.content
    query = parse_qs(urlsplit(response["Location"]).query)
    assert response["Location"].startswith(options.get("redirect_uri", REDIRECT_URI))
    assert query["state"] == ["st-123"]
    return query["code"][0]


def test_the_consent_page_explains_the_request(client, world, app):
    application, _ = app
    _, challenge = pkce_pair()
    client.force_login(world.owner)
    response = client.get("/oauth/authorize", params(application, challenge))
    assert response.status_code == 200
    page = response.content.decode()
    assert application.name in page and world.org.name in page
    assert "Test" in page
    assert "See API keys (never their secrets)" in page  # keys:read in plain words
    assert "Read payments" in page
    assert 'name="allow"' in page


def test_the_full_flow_issues_tokens_that_act_for_the_approving_member(client, world, app):
    application, secret = app
    verifier, challenge = pkce_pair()
    client.force_login(world.teammate)
    code = approve(client, application, challenge)
    client.logout()
    response = exchange_code(client, application, secret, code, verifier)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["expires_in"] == 3600
    assert body["refresh_token"].startswith("ort_")
    assert AccessToken.objects.get().user == world.teammate
    current = client.get(CURRENT, HTTP_AUTHORIZATION=f"Bearer {body['access_token']}", REMOTE_ADDR="127.0.0.1")
    assert current.status_code == 200
    assert current.json()["scopes"] == ["keys:read", "payments:read"]

    refreshed = client.post(
        "/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        HTTP_AUTHORIZATION=basic(application.client_id, secret),
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["access_token"] != body["access_token"]


def test_denying_redirects_with_access_denied_and_no_code(client, world, app):
    application, _ = app
    _, challenge = pkce_pair()
    client.force_login(world.owner)
    response = client.post("/oauth/authorize", params(application, challenge))  # no "allow"
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["error"] == ["access_denied"] and "code" not in query
    assert not Grant.objects.exists()


def test_a_wrong_verifier_is_refused(client, world, app):
    application, secret = app
    _, challenge = pkce_pair()
    client.force_login(world.owner)
    code = approve(client, application, challenge)
    other_verifier, _ = pkce_pair()
    response = exchange_code(client, application, secret, code, other_verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()


def test_pkce_is_required(client, world, app):
    application, _ = app
    client.force_login(world.owner)
    response = client.get("/oauth/authorize", params(application, None, code_challenge_method=None))
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["error"] == ["invalid_request"] and "code" not in query
    assert "code challenge required" in query["error_description"][0].lower()


def test_the_plain_pkce_method_is_refused(client, world, app):
    application, _ = app
    verifier, _ = pkce_pair()
    client.force_login(world.owner)
    response = client.post(
        "/oauth/authorize", {**params(application, verifier, code_challenge_method="plain"), "allow": "Authorize"}
    )
    assert "code=" not in response.get("Location", "")
    assert not Grant.objects.exists()


def test_an_unregistered_redirect_uri_is_never_redirected_to(client, world, app):
    application, _ = app
    _, challenge = pkce_pair()
    client.force_login(world.owner)
    for uri in ("https://evil.example/callback", REDIRECT_URI + "/extra", REDIRECT_URI + "?x=1"):
        response = client.get("/oauth/authorize", params(application, challenge, redirect_uri=uri))
        assert response.status_code != 302, uri
        assert "can't be used" in response.content.decode()


def test_a_code_used_twice_fails_and_revokes_what_it_issued(client, world, app, django_capture_on_commit_callbacks):
    application, secret = app
    verifier, challenge = pkce_pair()
    client.force_login(world.owner)
    code = approve(client, application, challenge)
    first = exchange_code(client, application, secret, code, verifier)
    assert first.status_code == 200
    token = first.json()["access_token"]
    assert client.get(CURRENT, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        second = exchange_code(client, application, secret, code, verifier)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()
    assert client.get(CURRENT, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    refresh = client.post(
        "/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]},
        HTTP_AUTHORIZATION=basic(application.client_id, secret),
    )
    assert refresh.status_code == 400


def test_a_code_is_bound_to_its_client(client, world, app):
    application, _ = app
    verifier, challenge = pkce_pair()
    client.force_login(world.owner)
    code = approve(client, application, challenge)
    other, other_secret = make_application(world, grant_type="authorization_code", name="Other")
    assert exchange_code(client, other, other_secret, code, verifier).json()["error"] == "invalid_grant"


def test_a_read_only_member_cannot_approve_a_write_scope(client, world, app):
    application, _ = app
    _, challenge = pkce_pair()
    client.force_login(world.read_only)
    page = client.get("/oauth/authorize", params(application, challenge, scope="payments:write"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Your role lacks this" in html
    assert 'name="allow"' not in html
    # Posting the approval anyway is refused by the validator.
    response = client.post(
        "/oauth/authorize", {**params(application, challenge, scope="payments:write"), "allow": "Authorize"}
    )
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["error"] == ["invalid_scope"] and "code" not in query
    assert not Grant.objects.exists()


def test_an_outsider_cannot_approve_for_an_organisation_they_are_not_in(client, world, app):
    application, _ = app
    _, challenge = pkce_pair()
    client.force_login(world.outsider)
    html = client.get("/oauth/authorize", params(application, challenge)).content.decode()
    assert "not a member" in html and 'name="allow"' not in html
    response = client.post("/oauth/authorize", {**params(application, challenge), "allow": "Authorize"})
    assert "code=" not in response.get("Location", "")
    assert not Grant.objects.exists()


def test_a_member_who_leaves_takes_their_tokens_with_them(client, world, app):
    from apikeys.authentication import token_cache

    application, secret = app
    verifier, challenge = pkce_pair()
    client.force_login(world.teammate)
    token = exchange_code(client, application, secret, approve(client, application, challenge), verifier).json()
    world.membership(world.teammate).delete()
    token_cache.clear()  # what the cache TTL does on its own
    response = client.get(CURRENT, HTTP_AUTHORIZATION=f"Bearer {token['access_token']}")
    assert response.status_code == 401


def test_signing_in_is_required_to_see_the_consent_page(client, world, app):
    application, _ = app
    _, challenge = pkce_pair()
    response = client.get("/oauth/authorize", params(application, challenge))
    assert response.status_code == 302
    assert "/accounts/login" in response["Location"]
