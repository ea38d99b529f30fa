"""The country allowlist: an offline IP-to-country table decides, no network."""

import pytest

from apikeys import services
from apikeys.authentication import key_cache
from portal.lib.geo import country_of

pytestmark = pytest.mark.django_db


def test_the_offline_table_knows_public_addresses_and_not_private_ones():
    assert country_of("81.2.69.142") == "GB"
    assert country_of("2001:4860:4860::8888") == "US"
    assert country_of("10.0.0.1") == ""
    assert country_of("not an ip") == ""
    assert country_of(None) == ""


def _key(world, countries):
    key, secret = services.apikey_create(
        organization=world.org,
        actor_membership=world.membership(world.owner),
        name="Geo key",
        environment="test",
        scopes=["keys:read"],
        allowed_countries=countries,
    )
    key_cache.clear()
    return key, secret


def test_a_key_answers_from_an_allowed_country(client, world):
    _, secret = _key(world, ["gb", "IE"])
    response = client.get("/api/v1/keys/current", HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR="81.2.69.142")
    assert response.status_code == 200, response.content


def test_a_key_is_refused_from_another_country_with_a_clear_problem(client, world):
    _, secret = _key(world, ["GB"])
    response = client.get("/api/v1/keys/current", HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR="8.8.8.8")
    assert response.status_code == 403
    body = response.json()
    assert body["type"].endswith("/problems/country-not-allowed")
    assert "from US" in body["detail"]


def test_a_key_with_countries_is_refused_from_an_address_of_unknown_country(client, world):
    _, secret = _key(world, ["GB"])
    response = client.get("/api/v1/keys/current", HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 403
    assert "country is unknown" in response.json()["detail"]


def test_unknown_country_codes_are_rejected_and_nothing_is_created(world):
    from django.core.exceptions import ValidationError

    from apikeys.models import ApiKey

    with pytest.raises(ValidationError) as excinfo:
        _key(world, ["GB", "XX"])
    assert "allowed_countries" in excinfo.value.message_dict
    assert not ApiKey.objects.filter(name="Geo key").exists()


def test_the_api_changes_a_keys_countries_limit_and_expiry(client, world):
    from apikeys.models import ApiKey

    admin_key, admin_secret = services.apikey_create(
        organization=world.org,
        actor_membership=world.membership(world.owner),
        name="Admin key",
        environment="test",
        scopes=["keys:read", "keys:manage"],
    )
    target, _ = _key(world, [])
    response = client.patch(
        f"/api/v1/keys/{target.public_id}",
        {"allowed_countries": ["de", "FR"], "rate_limit_per_hour": 50, "expires_at": "2099-01-01T00:00:00Z"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {admin_secret}",
    )
    assert response.status_code == 200, response.content
    target = ApiKey.objects.get(pk=target.pk)
    assert target.allowed_countries == ["DE", "FR"]
    assert target.rate_limit_per_hour == 50
    assert target.expires_at.year == 2099
    bad = client.patch(
        f"/api/v1/keys/{target.public_id}",
        {"allowed_countries": ["ZZ"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {admin_secret}",
    )
    assert bad.status_code == 400
    assert "allowed_countries" in bad.json()["errors"]
    assert ApiKey.objects.get(pk=target.pk).allowed_countries == ["DE", "FR"]
