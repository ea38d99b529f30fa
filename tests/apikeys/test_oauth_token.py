"""The token endpoint, bearer tokens on the API, revocation (RFC 7009) and introspection (RFC 7662)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from oauth2_provider.models import AccessToken

from tests.apikeys.oauth_support import basic, make_application, request_token

KEYS = "/api/v1/keys"
CURRENT = "/api/v1/keys/current"


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}", "REMOTE_ADDR": "127.0.0.1"}


def issue(client, world, **app_options) -> tuple[object, str, str]:
    application, secret = make_application(world, **app_options)
    response = request_token(client, application, secret)
    assert response.status_code == 200, response.content
    return application, secret, response.json()["access_token"]


# ---- client credentials -----------------------------------------------------------------


def test_client_credentials_issue_a_one_hour_bearer_token(client, world):
    application, secret = make_application(world)
    before = timezone.now()
    response = request_token(client, application, secret)
    after = timezone.now()
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"].startswith("oat_")
    assert "refresh_token" not in body  # client credentials get no refresh token (RFC 6749 4.4.3)
    assert set(body["scope"].split()) == {"keys:read", "payments:read"}
    token = AccessToken.objects.get(application=application)
    assert before + timedelta(hours=1) <= token.expires <= after + timedelta(hours=1)
    assert token.token == ""  # only the checksum is stored (RFC 9700 token storage)


def test_a_token_calls_the_api_with_the_same_context_scope_check_and_rate_limit(client, world):
    application, _, token = issue(client, world)
    response = client.get(CURRENT, **bearer(token))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == application.public_id
    assert body["organization"] == world.org.public_id
    assert body["environment"] == "test"
    assert body["scopes"] == ["keys:read", "payments:read"]
    listing = client.get(KEYS, **bearer(token))
    assert listing.status_code == 200
    assert listing["X-RateLimit-Limit"] and listing["RateLimit-Policy"]
    remaining = int(listing["X-RateLimit-Remaining"])
    assert int(client.get(KEYS, **bearer(token))["X-RateLimit-Remaining"]) == remaining - 1


def test_a_token_without_the_scope_is_refused_like_a_key(client, world):
    _, _, token = issue(client, world, scopes=["payments:read"])
    response = client.get(KEYS, **bearer(token))
    assert response.status_code == 403
    assert response.json()["type"].endswith("/insufficient-scope")
    assert "keys:read" in response.json()["detail"]


def test_a_narrower_scope_can_be_requested(client, world):
    application, secret = make_application(world)
    response = request_token(client, application, secret, scope="payments:read")
    assert response.json()["scope"] == "payments:read"
    assert client.get(KEYS, **bearer(response.json()["access_token"])).status_code == 403


def test_a_scope_beyond_the_applications_allowed_scopes_is_refused(client, world):
    application, secret = make_application(world)
    response = request_token(client, application, secret, scope="payments:read payments:write")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert not AccessToken.objects.exists()


def test_a_wrong_client_secret_is_an_oauth_error(client, world):
    application, _ = make_application(world)
    response = request_token(client, application, "not-the-secret")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_an_unknown_client_is_an_oauth_error(client, world):
    response = client.post(
        "/oauth/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic("nobody", "nothing")
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_an_authorization_code_application_cannot_use_client_credentials(client, world):
    application, secret = make_application(world, grant_type="authorization_code")
    response = request_token(client, application, secret)
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


def test_an_unknown_or_expired_token_is_refused_with_a_problem(client, world):
    response = client.get(CURRENT, **bearer("oat_" + "x" * 40))
    assert response.status_code == 401
    assert response.json()["type"].endswith("/invalid-access-token")
    _, _, token = issue(client, world)
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    response = client.get(CURRENT, **bearer(token))
    assert response.status_code == 401
    assert response.json()["type"].endswith("/expired-access-token")


def test_narrowing_an_applications_scopes_narrows_its_live_tokens(client, world):
    from apikeys.authentication import token_cache
    from apikeys.services import oauth_application_update

    application, _, token = issue(client, world)
    oauth_application_update(
        application=application, actor_membership=world.membership(world.owner), scopes=["keys:read"]
    )
    token_cache.clear()  # what the cache TTL does on its own
    assert client.get(CURRENT, **bearer(token)).json()["scopes"] == ["keys:read"]


# ---- revocation (RFC 7009) and introspection (RFC 7662) -------------------------------------


def test_a_revoked_token_is_refused_by_the_api(client, world, django_capture_on_commit_callbacks):
    application, secret, token = issue(client, world)
    assert client.get(CURRENT, **bearer(token)).status_code == 200  # now cached in this process
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/oauth/revoke", {"token": token}, HTTP_AUTHORIZATION=basic(application.client_id, secret)
        )
    assert response.status_code == 200
    assert not AccessToken.objects.exists()
    response = client.get(CURRENT, **bearer(token))
    assert response.status_code == 401


def test_the_revocation_marker_wins_over_another_process_cache(client, world, django_capture_on_commit_callbacks):
    """The marker alone refuses the token: this process's cache is left stale on purpose."""
    from apikeys.authentication import token_cache, token_checksum

    application, secret, token = issue(client, world)
    assert client.get(CURRENT, **bearer(token)).status_code == 200
    stale = token_cache.get(token_checksum(token))
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/oauth/revoke", {"token": token}, HTTP_AUTHORIZATION=basic(application.client_id, secret))
    token_cache._entries[token_checksum(token)] = (float("inf"), stale)  # as if another process still had it
    response = client.get(CURRENT, **bearer(token))
    assert response.status_code == 401
    assert response.json()["type"].endswith("/revoked-access-token")
    assert "access token has been revoked" in response.json()["detail"]


def test_a_client_cannot_revoke_another_clients_token(client, world):
    _, _, token = issue(client, world)
    other, other_secret = make_application(world, name="Other")
    response = client.post("/oauth/revoke", {"token": token}, HTTP_AUTHORIZATION=basic(other.client_id, other_secret))
    assert response.status_code == 200  # RFC 7009 2.2: no disclosure either way
    assert AccessToken.objects.count() == 1
    assert client.get(CURRENT, **bearer(token)).status_code == 200


def test_introspection_reports_active_then_inactive(client, world, django_capture_on_commit_callbacks):
    application, secret, token = issue(client, world)
    auth = basic(application.client_id, secret)
    body = client.post("/oauth/introspect", {"token": token}, HTTP_AUTHORIZATION=auth).json()
    assert body["active"] is True
    assert body["client_id"] == application.client_id
    assert set(body["scope"].split()) == {"keys:read", "payments:read"}
    assert body["organization"] == world.org.public_id
    assert body["exp"] > body["iat"]
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/oauth/revoke", {"token": token}, HTTP_AUTHORIZATION=auth)
    assert client.post("/oauth/introspect", {"token": token}, HTTP_AUTHORIZATION=auth).json() == {"active": False}


def test_introspection_needs_client_authentication_and_sees_only_its_own_tokens(client, world):
    _, _, token = issue(client, world)
    other, other_secret = make_application(world, name="Other")
    response = client.post("/oauth/introspect", {"token": token})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    response = client.post(
        "/oauth/introspect", {"token": token}, HTTP_AUTHORIZATION=basic(other.client_id, other_secret)
    )
    assert response.json() == {"active": False}


def test_secret_rotation_invalidates_the_old_secret(client, world):
    from apikeys.services import oauth_application_rotate_secret

    application, old_secret = make_application(world)
    application, new_secret = oauth_application_rotate_secret(
        application=application, actor_membership=world.membership(world.owner)
    )
    assert new_secret != old_secret
    assert request_token(client, application, old_secret).json()["error"] == "invalid_client"
    assert request_token(client, application, new_secret).status_code == 200


def test_deleting_an_application_revokes_its_tokens(client, world, django_capture_on_commit_callbacks):
    from apikeys.services import oauth_application_delete

    application, _, token = issue(client, world)
    assert client.get(CURRENT, **bearer(token)).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        oauth_application_delete(application=application, actor_membership=world.membership(world.owner))
    assert not AccessToken.objects.exists()
    assert client.get(CURRENT, **bearer(token)).status_code == 401


def test_the_server_metadata_lists_the_endpoints(client, db):
    body = client.get("/.well-known/oauth-authorization-server").json()
    assert body["token_endpoint"].endswith("/oauth/token")
    assert body["authorization_endpoint"].endswith("/oauth/authorize")
    assert body["revocation_endpoint"].endswith("/oauth/revoke")
    assert body["introspection_endpoint"].endswith("/oauth/introspect")
