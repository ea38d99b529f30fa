"""OAuth application services, the management API, purge of expired tokens, and 404s across organisations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant, RefreshToken

from accounts.models import AuditLog
from apikeys.models import OAuthApplication
from apikeys.services import (
    oauth_application_delete,
    oauth_application_update,
    oauth_token_purge_expired,
)
from apikeys.tasks import purge_expired_oauth_tokens
from portal.problems import ProblemException
from tests.apikeys.oauth_support import REDIRECT_URI, make_application, request_token

API = "/api/v1/oauth-applications"


# ---- services ------------------------------------------------------------------------------


def test_the_client_secret_is_stored_hashed_and_returned_once(world):
    application, secret = make_application(world)
    stored = OAuthApplication.objects.get(pk=application.pk).client_secret
    assert stored != secret and secret not in stored
    assert "$" in stored  # a Django password-hasher encoding
    assert application.public_id.startswith("app_")
    assert AuditLog.objects.filter(action="oauth_application.created", target_id=application.public_id).exists()


def test_only_members_with_oauth_apps_manage_can_create(world):
    with pytest.raises(ProblemException) as excinfo:
        make_application(world, user=world.read_only, scopes=["keys:read"])
    assert excinfo.value.status_code == 403


def test_nobody_grants_an_application_scopes_they_do_not_hold(world):
    with pytest.raises(ValidationError) as excinfo:
        make_application(world, user=world.teammate, scopes=["members:manage"])
    assert "members:manage" in str(excinfo.value)


@pytest.mark.parametrize(
    ("environment", "uri", "ok"),
    [
        ("test", "http://127.0.0.1:9000/cb", True),
        ("test", "http://localhost/cb", True),
        ("test", "https://app.example/cb", True),
        ("test", "http://app.example/cb", False),
        ("live", "http://127.0.0.1:9000/cb", False),
        ("live", "https://app.example/cb", True),
        ("live", "https://app.example/cb#frag", False),
        ("live", "https://*.example/cb", False),
        ("live", "ftp://app.example/cb", False),
    ],
)
def test_redirect_uris_are_https_or_loopback_http_in_test_mode(world, environment, uri, ok):
    create = lambda: make_application(  # noqa: E731
        world, grant_type="authorization_code", environment=environment, redirect_uris=[uri]
    )
    if ok:
        assert create()[0].redirect_uri_list == [uri]
    else:
        with pytest.raises(ValidationError):
            create()


def test_authorization_code_needs_a_redirect_uri_and_client_credentials_none(world):
    with pytest.raises(ValidationError):
        make_application(world, grant_type="authorization_code", redirect_uris=[])
    with pytest.raises(ValidationError):
        make_application(world, grant_type="client_credentials", redirect_uris=[REDIRECT_URI])


def test_update_changes_and_audits_only_what_changed(world):
    application, _ = make_application(world)
    owner = world.membership(world.owner)
    oauth_application_update(application=application, actor_membership=owner, name="Renamed", scopes=["keys:read"])
    application.refresh_from_db()
    assert (application.name, application.allowed_scopes) == ("Renamed", ["keys:read"])
    log = AuditLog.objects.get(action="oauth_application.updated")
    assert set(log.details["changes"]) == {"name", "scopes"}
    oauth_application_update(application=application, actor_membership=owner, name="Renamed")
    assert AuditLog.objects.filter(action="oauth_application.updated").count() == 1


def test_a_member_of_another_organisation_cannot_change_an_application(world):
    application, _ = make_application(world)
    with pytest.raises(ProblemException):
        oauth_application_delete(
            application=application, actor_membership=world.membership(world.outsider, world.outsider_org)
        )
    assert OAuthApplication.objects.filter(pk=application.pk).exists()


def test_purge_deletes_expired_tokens_including_client_credentials_ones(client, world):
    application, secret = make_application(world)
    expired = request_token(client, application, secret).json()["access_token"]
    fresh = request_token(client, application, secret).json()["access_token"]
    from apikeys.authentication import token_checksum

    AccessToken.objects.filter(token_checksum=token_checksum(expired)).update(
        expires=timezone.now() - timedelta(minutes=1)
    )
    Grant.objects.create(
        application=application,
        user=world.owner,
        code="old-code",
        expires=timezone.now() - timedelta(minutes=5),
        redirect_uri=REDIRECT_URI,
        scope="keys:read",
        code_challenge="x" * 43,
        code_challenge_method="S256",
    )
    assert oauth_token_purge_expired() == 2
    assert list(AccessToken.objects.values_list("token_checksum", flat=True)) == [token_checksum(fresh)]
    assert not Grant.objects.exists()
    assert oauth_token_purge_expired() == 0


def test_purge_keeps_an_expired_access_token_whose_refresh_token_still_lives(world):
    application, _ = make_application(world, grant_type="authorization_code")
    now = timezone.now()
    access = AccessToken.objects.create(
        application=application, user=world.owner, scope="keys:read", expires=now - timedelta(hours=2), token="a"
    )
    RefreshToken.objects.create(application=application, user=world.owner, access_token=access, token="r")
    assert oauth_token_purge_expired(now=now) == 0
    # Thirty days later the refresh token is past its lifetime: both go.
    assert oauth_token_purge_expired(now=now + timedelta(days=31)) == 2


def test_the_beat_task_purges(client, world):
    application, secret = make_application(world)
    request_token(client, application, secret)
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert purge_expired_oauth_tokens.delay().get() == 1


# ---- the management API --------------------------------------------------------------------


def test_create_returns_the_secret_once_and_lists_in_the_envelope(client, world):
    client.force_login(world.owner)
    response = client.post(
        API,
        {"name": "Sync", "grant_type": "client_credentials", "scopes": ["keys:read"], "environment": "test"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"].startswith("app_") and body["client_secret"]
    assert body["grant_type"] == "client_credentials" and body["client_type"] == "confidential"
    listing = client.get(API).json()
    assert listing["meta"]["total"] == 1
    assert "client_secret" not in listing["data"][0]
    detail = client.get(f"{API}/{body['id']}").json()
    assert "client_secret" not in detail
    application = OAuthApplication.objects.get(public_id=body["id"])
    assert request_token(client, application, body["client_secret"]).status_code == 200


def test_patch_rotate_and_delete(client, world):
    application, old_secret = make_application(world)
    client.force_login(world.owner)
    patched = client.patch(f"{API}/{application.public_id}", {"name": "New name"}, content_type="application/json")
    assert patched.json()["name"] == "New name"
    rotated = client.post(f"{API}/{application.public_id}/rotate-secret")
    assert rotated.status_code == 200
    new_secret = rotated.json()["client_secret"]
    assert request_token(client, application, old_secret).status_code == 401
    assert request_token(client, application, new_secret).status_code == 200
    assert client.delete(f"{API}/{application.public_id}").status_code == 204
    assert not OAuthApplication.objects.exists() and not AccessToken.objects.exists()


def test_validation_errors_are_problems(client, world):
    client.force_login(world.owner)
    response = client.post(
        API,
        {"name": "Web", "grant_type": "authorization_code", "scopes": ["keys:read"], "redirect_uris": []},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "redirect_uris" in response.json()["errors"]


def test_reads_need_oauth_apps_read_and_writes_oauth_apps_manage(client, world):
    make_application(world)
    client.force_login(world.read_only)
    assert client.get(API).status_code == 200
    response = client.post(
        API, {"name": "X", "grant_type": "client_credentials", "scopes": ["keys:read"]}, content_type="application/json"
    )
    assert response.status_code == 403


def test_a_token_managing_applications_cannot_grant_beyond_its_own_scopes(client, world):
    manager, secret = make_application(world, scopes=["oauth_apps:read", "oauth_apps:manage"])
    token = request_token(client, manager, secret).json()["access_token"]
    response = client.post(
        API,
        {"name": "Escalate", "grant_type": "client_credentials", "scopes": ["payments:write"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400
    assert "payments:write" in str(response.json()["errors"])


def test_another_organisations_application_is_a_404_on_the_api_and_the_pages(client, world):
    theirs, _ = make_application(world, user=world.outsider, org=world.outsider_org)
    client.force_login(world.owner)
    assert client.get(f"{API}/{theirs.public_id}").status_code == 404
    assert client.patch(f"{API}/{theirs.public_id}", {"name": "x"}, content_type="application/json").status_code == 404
    assert client.post(f"{API}/{theirs.public_id}/rotate-secret").status_code == 404
    assert client.delete(f"{API}/{theirs.public_id}").status_code == 404
    page = reverse("apikeys:oauth_app_detail", args=[theirs.public_id])
    assert client.get(page).status_code == 404
    assert OAuthApplication.objects.filter(pk=theirs.pk).exists()


def test_the_schema_describes_the_oauth_applications_api(client, db):
    schema = client.get("/api/v1/schema").content.decode()
    for operation in ("oauth_applications_list", "oauth_applications_create", "oauth_applications_rotate_secret"):
        assert operation in schema
    assert "clientCredentials" in schema


def test_seed_demo_creates_a_client_credentials_application_once(db, settings, tmp_path):
    from portal.demo import seed_demo

    settings.VAR_DIR = tmp_path  # the demo keys' secrets file goes there

    first = seed_demo().report["oauth_applications"][0]
    second = seed_demo().report["oauth_applications"][0]
    # The secret is kept on file in var/, so every run prints the same working one.
    assert first["client_secret"] and second["client_secret"] == first["client_secret"]
    assert OAuthApplication.objects.filter(organization__slug="northwind", name=first["name"]).count() == 1
    assert first["id"] == second["id"] and first["environment"] == "test"
    assert OAuthApplication.objects.filter(public_id=first["id"], organization__slug="northwind").exists()
