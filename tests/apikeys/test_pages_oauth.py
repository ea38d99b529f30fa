"""The OAuth application pages through the Django test client: list, create (secret shown
once), detail and settings, secret rotation, deletion; roles and other organisations."""

from __future__ import annotations

import re

import pytest

from apikeys import services
from apikeys.models import OAuthApplication


def _payload(**overrides) -> dict:
    data = {
        "name": "Warehouse sync",
        "description": "Nightly stock sync",
        "environment": "test",
        "grant_type": "client_credentials",
        "redirect_uris": "",
        "scopes": ["payments:read"],
    }
    data.update(overrides)
    return data


def _secret(html: str) -> str:
    match = re.search(r'<code id="client-secret" data-secret>([^<]+)</code>', html)
    assert match, "no client secret on the page"
    return match.group(1)


@pytest.fixture
def as_user(client):
    def _as(user):
        client.force_login(user)
        return client

    return _as


@pytest.fixture
def make_app(world):
    def _make(user=None, org=None, **overrides):
        membership = world.membership(user or world.owner, org)
        values = {
            "name": "Partner app",
            "environment": "test",
            "grant_type": "authorization_code",
            "redirect_uris": ["https://partner.example/callback"],
            "scopes": ["payments:read"],
        }
        values.update(overrides)
        return services.oauth_application_create(
            organization=membership.organization, actor_membership=membership, **values
        )

    return _make


def test_members_with_oauth_read_see_the_list_and_only_managers_get_buttons(world, as_user, make_app):
    app, _ = make_app()
    for user, can_manage in ((world.owner, True), (world.teammate, True), (world.read_only, False)):
        html = as_user(user).get("/oauth-apps/").content.decode()
        assert app.client_id in html and "Partner app" in html
        assert ('href="/oauth-apps/new/"' in html) is can_manage


def test_the_list_filters_by_mode(world, as_user, make_app):
    make_app(name="Test one")
    make_app(name="Live one", environment="live")
    client = as_user(world.owner)
    html = client.get("/oauth-apps/?environment=live").content.decode()
    assert "Live one" in html and "Test one" not in html


def test_creating_an_application_shows_the_client_secret_once(world, as_user):
    client = as_user(world.teammate)
    assert client.get("/oauth-apps/new/").status_code == 200
    response = client.post("/oauth-apps/new/", _payload())
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    html = response.content.decode()
    secret = _secret(html)
    app = OAuthApplication.objects.get(organization=world.org)
    assert app.client_id in html and 'data-copy="client-secret"' in html
    assert app.allowed_scopes == ["payments:read"]
    detail = client.get(f"/oauth-apps/{app.public_id}/").content.decode()
    assert secret not in detail and app.client_id in detail


def test_an_authorization_code_app_keeps_its_redirect_uris(world, as_user):
    response = as_user(world.owner).post(
        "/oauth-apps/new/",
        _payload(grant_type="authorization_code", redirect_uris="https://a.example/cb\nhttps://b.example/cb"),
    )
    assert response.status_code == 200
    app = OAuthApplication.objects.get(organization=world.org)
    assert app.redirect_uri_list == ["https://a.example/cb", "https://b.example/cb"]
    assert app.authorization_grant_type == OAuthApplication.GRANT_AUTHORIZATION_CODE


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"grant_type": "authorization_code", "redirect_uris": ""}, "redirect_uris"),
        ({"grant_type": "authorization_code", "redirect_uris": "http://evil.example/cb"}, "redirect_uris"),
        ({"scopes": ["members:manage"]}, "scopes"),
        ({"environment": "live"}, "environment"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_creates_nothing(world, as_user, overrides, field):
    response = as_user(world.teammate).post("/oauth-apps/new/", _payload(**overrides))
    assert response.status_code in (400, 403)
    if response.status_code == 400:
        assert f'id="id_{field}_error"' in response.content.decode()
    assert not OAuthApplication.objects.exists()


def test_settings_rotation_and_deletion(world, as_user, make_app):
    app, first_secret = make_app()
    client = as_user(world.teammate)
    response = client.post(
        f"/oauth-apps/{app.public_id}/",
        {"name": "Renamed", "description": "", "redirect_uris": "https://new.example/cb", "scopes": ["fx:read"]},
    )
    assert response.status_code == 302
    app.refresh_from_db()
    assert (app.name, app.redirect_uri_list, app.allowed_scopes) == ("Renamed", ["https://new.example/cb"], ["fx:read"])
    response = client.post(f"/oauth-apps/{app.public_id}/rotate-secret/")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    new_secret = _secret(response.content.decode())
    assert new_secret != first_secret
    assert new_secret not in client.get(f"/oauth-apps/{app.public_id}/").content.decode()
    html = client.get(f"/oauth-apps/{app.public_id}/").content.decode()
    assert re.search(r'data-confirm="Delete[^"]*"[^>]*>Delete application', html)
    assert client.post(f"/oauth-apps/{app.public_id}/delete/").status_code == 302
    assert not OAuthApplication.objects.exists()


def test_read_only_members_get_403_on_writes(world, as_user, make_app):
    app, _ = make_app()
    client = as_user(world.read_only)
    assert client.get(f"/oauth-apps/{app.public_id}/").status_code == 200
    assert client.get("/oauth-apps/new/").status_code == 403
    assert client.post("/oauth-apps/new/", _payload()).status_code == 403
    assert client.post(f"/oauth-apps/{app.public_id}/", {"name": "x", "scopes": ["payments:read"]}).status_code == 403
    assert client.post(f"/oauth-apps/{app.public_id}/rotate-secret/").status_code == 403
    assert client.post(f"/oauth-apps/{app.public_id}/delete/").status_code == 403
    assert OAuthApplication.objects.filter(name="Partner app").exists()


def test_another_organisations_application_is_404(world, as_user, make_app):
    theirs, _ = make_app(user=world.outsider, org=world.outsider_org)
    client = as_user(world.owner)
    assert "Partner app" not in client.get("/oauth-apps/").content.decode()
    assert client.get(f"/oauth-apps/{theirs.public_id}/").status_code == 404
    assert client.post(f"/oauth-apps/{theirs.public_id}/rotate-secret/").status_code == 404
    assert client.post(f"/oauth-apps/{theirs.public_id}/delete/").status_code == 404
    assert OAuthApplication.objects.filter(pk=theirs.pk).exists()


def test_live_applications_need_keys_live(world, as_user, make_app):
    live, _ = make_app(environment="live")
    client = as_user(world.teammate)  # oauth_apps:manage without keys:live
    assert client.post(f"/oauth-apps/{live.public_id}/rotate-secret/").status_code == 403
    assert client.post(f"/oauth-apps/{live.public_id}/delete/").status_code == 403
    assert OAuthApplication.objects.filter(pk=live.pk).exists()


def test_a_client_credentials_app_has_no_redirect_uris_to_edit(world, as_user, make_app):
    app, _ = make_app(grant_type="client_credentials", redirect_uris=[])
    client = as_user(world.owner)
    assert 'name="redirect_uris"' not in client.get(f"/oauth-apps/{app.public_id}/").content.decode()
    response = client.post(
        f"/oauth-apps/{app.public_id}/", {"name": "Machine", "description": "", "scopes": ["payments:read"]}
    )
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.name == "Machine" and app.redirect_uris == ""
