"""The API key pages through the Django test client: list, create, detail, rotate, revoke,
bulk actions, templates and the naming policy, for each role and across organisations."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditLog
from apikeys import services
from apikeys.models import ApiKey, KeyPolicy, KeyTemplate, RequestLog
from portal.lib import keys as keyfmt

SECRET = re.compile(r"pk_(?:test|live)_[0-9A-Za-z]{40,}")


def _secret_in(html: str) -> str:
    match = SECRET.search(html)
    assert match, "no full key on the page"
    return match.group(0)


def _create_payload(**overrides) -> dict:
    data = {
        "name": "Billing backend",
        "description": "Charges cards at night",
        "environment": "test",
        "scopes": ["payments:read", "payments:write"],
        "expiry": "never",
        "expires_on": "",
        "allowed_ips": "",
        "allowed_countries": "",
        "rate_limit_per_hour": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def as_user(client):
    def _as(user):
        client.force_login(user)
        return client

    return _as


# ---- list ------------------------------------------------------------------------------------


def test_every_member_sees_the_list_but_only_creators_get_the_button(world, as_user, make_key):
    make_key(name="Nightly export")
    for user, can_create in ((world.owner, True), (world.teammate, True), (world.read_only, False)):
        response = as_user(user).get("/keys/")
        assert response.status_code == 200
        html = response.content.decode()
        assert "Nightly export" in html
        assert ('href="/keys/new/"' in html) is can_create
        assert ('action="/keys/bulk/"' in html) is can_create


def test_the_list_shows_prefix_last4_mode_scopes_and_status(world, as_user, make_key):
    key, secret = make_key(name="Shown key", scopes=["keys:read", "payments:read", "refunds:read"])
    html = as_user(world.owner).get("/keys/").content.decode()
    assert f"pk_test_{key.lookup_id}…{key.last4}" in html
    assert secret not in html
    row = html[html.index(f'data-key="{key.public_id}"') :]
    row = row[: row.index("</tr>")]
    assert "badge-test" in row and "Active" in row and "<td title=" in row and ">3</td>" in row


def test_the_list_filters_searches_and_sorts_from_the_query_string(world, as_user, make_key):
    live, _ = make_key(name="Live payments", environment="live", scopes=["payments:read"])
    revoked, _ = make_key(name="Old revoked", scopes=["keys:read"])
    services.apikey_revoke(key=revoked, actor=world.membership(world.owner))
    soon, _ = make_key(name="Soon expiring", expires_at=timezone.now() + timedelta(days=5))
    client = as_user(world.owner)

    def names(query: str) -> set[str]:
        html = client.get(f"/keys/?{query}").content.decode()
        return {k.name for k in (live, revoked, soon) if k.name in html}

    assert names("environment=live") == {"Live payments"}
    assert names("status=revoked") == {"Old revoked"}
    assert names("status=expiring") == {"Soon expiring"}
    assert names("status=active") == {"Live payments", "Soon expiring"}
    assert names("scope=payments%3Aread") == {"Live payments"}
    assert names("q=payments") == {"Live payments"}
    assert names(f"q=pk_live_{live.lookup_id}") == {"Live payments"}
    assert names(f"q={soon.last4}") >= {"Soon expiring"}
    html = client.get("/keys/?sort=name").content.decode()
    assert html.index("Live payments") < html.index("Old revoked") < html.index("Soon expiring")
    html = client.get("/keys/?sort=-name").content.decode()
    assert html.index("Soon expiring") < html.index("Old revoked") < html.index("Live payments")


def test_the_list_paginates_25_a_page_keeping_the_filters(world, as_user, make_key):
    for n in range(27):
        make_key(name=f"key-{n:02d}")
    client = as_user(world.owner)
    first = client.get("/keys/?sort=name").content.decode()
    assert first.count('data-key="') == 25
    assert "?sort=name&amp;page=2" in first
    second = client.get("/keys/?sort=name&page=2").content.decode()
    assert second.count('data-key="') == 2
    assert "key-26" in second


def test_the_list_makes_a_bounded_number_of_queries(world, as_user, make_key, django_assert_max_num_queries):
    client = as_user(world.owner)
    make_key(name="first")
    with django_assert_max_num_queries(12) as few:
        client.get("/keys/?scope=keys%3Aread&sort=-last_used")
    for n in range(30):
        make_key(name=f"more-{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/keys/?scope=keys%3Aread&sort=-last_used")
    assert response.status_code == 200


def test_another_organisations_keys_are_not_listed(world, as_user, make_key):
    make_key(name="Globex secret key", user=world.outsider, org=world.outsider_org)
    assert "Globex secret key" not in as_user(world.owner).get("/keys/").content.decode()


# ---- create ------------------------------------------------------------------------------------


def test_creating_a_key_shows_the_full_secret_once(world, as_user):
    client = as_user(world.teammate)
    assert client.get("/keys/new/").status_code == 200
    response = client.post(
        "/keys/new/",
        _create_payload(
            allowed_ips="203.0.113.0/24\n2001:db8::/32",
            allowed_countries="gb, de",
            rate_limit_per_hour="500",
            expiry="90",
        ),
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    secret = _secret_in(html)
    assert 'data-copy="new-secret"' in html and "You won't see this key again." in html
    key = ApiKey.objects.get(organization=world.org, name="Billing backend")
    assert keyfmt.parse_key(secret).lookup_id == key.lookup_id
    assert key.scopes == ["payments:read", "payments:write"]
    assert key.allowed_ips == ["2001:db8::/32", "203.0.113.0/24"]
    assert key.allowed_countries == ["DE", "GB"]
    assert key.rate_limit_per_hour == 500
    assert timedelta(days=89) < key.expires_at - timezone.now() <= timedelta(days=90)
    detail = client.get(f"/keys/{key.public_id}/").content.decode()
    assert secret not in detail and secret[:-4] not in detail
    assert f"pk_test_{key.lookup_id}…{key.last4}" in detail
    assert secret not in client.get("/keys/").content.decode()


def test_a_custom_expiry_date_ends_with_that_day(world, as_user):
    day = timezone.localdate() + timedelta(days=10)
    as_user(world.owner).post("/keys/new/", _create_payload(expiry="custom", expires_on=day.isoformat()))
    key = ApiKey.objects.get(name="Billing backend")
    assert timezone.localtime(key.expires_at).date() == day


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"allowed_ips": "10.0.0.0/8\nnot-an-ip"}, "allowed_ips", "is not an IPv4 or IPv6 address"),
        ({"allowed_countries": "GB, XZ"}, "allowed_countries", "is not an ISO 3166 two-letter country code"),
        ({"scopes": ["payments:read", "members:manage"]}, "scopes", "You cannot grant members:manage"),
        ({"scopes": []}, "scopes", "Pick at least one scope."),
        ({"expiry": "custom", "expires_on": ""}, "expires_on", "Pick a date."),
        ({"rate_limit_per_hour": "0"}, "rate_limit_per_hour", "greater than or equal to 1"),
        ({"environment": "live"}, "environment", "cannot create live keys"),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_creates_nothing(world, as_user, overrides, field, message):
    response = as_user(world.teammate).post("/keys/new/", _create_payload(**overrides))
    assert response.status_code == 400
    html = response.content.decode()
    error = re.search(rf'<p class="field-error" id="id_{field}_error">([^<]*)</p>', html)
    assert error, f"no error next to {field}"
    assert message in error.group(1).replace("&#x27;", "'")
    assert not ApiKey.objects.exists()
    assert not SECRET.search(html)


def test_a_name_breaking_the_naming_policy_is_refused_next_to_the_name(world, as_user):
    services.key_policy_update(
        organization=world.org,
        actor_membership=world.membership(world.owner),
        name_pattern=r"(prod|dev)-[a-z-]+",
        name_message="Start with prod- or dev-.",
    )
    client = as_user(world.teammate)
    response = client.post("/keys/new/", _create_payload(name="Billing backend"))
    assert response.status_code == 400
    assert '<p class="field-error" id="id_name_error">Start with prod- or dev-.</p>' in response.content.decode()
    assert not ApiKey.objects.exists()
    assert client.post("/keys/new/", _create_payload(name="dev-billing")).status_code == 200
    assert ApiKey.objects.filter(name="dev-billing").exists()


def test_scopes_the_member_lacks_are_shown_disabled(world, as_user):
    html = as_user(world.teammate).get("/keys/new/").content.decode()
    assert re.search(r'value="members:manage"[^>]*disabled', html)
    assert not re.search(r'value="payments:write"[^>]*disabled', html)
    assert "not in your role" in html


def test_read_only_members_cannot_create_keys(world, as_user):
    client = as_user(world.read_only)
    assert client.get("/keys/new/").status_code == 403
    assert client.post("/keys/new/", _create_payload(scopes=["payments:read"])).status_code == 403
    assert not ApiKey.objects.exists()


def test_a_template_prefills_the_form_without_javascript(world, as_user):
    template = services.key_template_create(
        organization=world.org,
        actor_membership=world.membership(world.owner),
        name="Reporting",
        environment="test",
        scopes=["reports:read", "transactions:read"],
        expires_in_days=90,
        rate_limit_per_hour=100,
        allowed_ips=["198.51.100.0/24"],
    )
    client = as_user(world.teammate)
    html = client.get(f"/keys/new/?template={template.public_id}").content.decode()
    assert "Filled in from the template" in html
    assert re.search(r'value="reports:read"[^>]*checked', html)
    assert re.search(r'value="payments:read"(?![^>]*checked)', html)
    assert "198.51.100.0/24" in html and 'value="100"' in html
    assert re.search(r'value="90"[^>]*checked', html)
    assert client.get("/keys/new/?template=ktpl_missing").status_code == 404


# ---- detail, settings, rotate, revoke ------------------------------------------------------


def test_the_detail_page_shows_recent_requests_newest_first(world, as_user, make_key):
    key, _ = make_key()
    now = timezone.now()
    for n in range(55):
        RequestLog.objects.create(
            organization=world.org,
            api_key=key,
            route="/api/v1/payments",
            method="GET",
            status=200 if n % 5 else 429,
            latency_ms=n,
            ip="203.0.113.9",
            country="GB",
            created_at=now - timedelta(minutes=55 - n),
        )
    html = as_user(world.read_only).get(f"/keys/{key.public_id}/").content.decode()
    assert html.count("/api/v1/payments") == 50
    assert html.index("54 ms") < html.index("53 ms")
    assert all(f"<td>{n} ms</td>" not in html for n in range(5))  # the five oldest are beyond the last 50
    assert "<td>5 ms</td>" in html
    assert "Rotate secret" not in html and "Revoke key" not in html


def test_read_only_members_get_403_on_every_write(world, as_user, make_key):
    key, _ = make_key()
    client = as_user(world.read_only)
    assert client.post(f"/keys/{key.public_id}/", {"name": "x"}).status_code == 403
    assert client.post(f"/keys/{key.public_id}/rotate/", {"grace": "0"}).status_code == 403
    assert client.post(f"/keys/{key.public_id}/revoke/").status_code == 403
    assert client.post("/keys/bulk/", {"keys": [key.public_id], "action": "revoke"}).status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None and key.name == "CI key"


def test_another_organisations_key_is_404_everywhere(world, as_user, make_key):
    theirs, _ = make_key(user=world.outsider, org=world.outsider_org)
    client = as_user(world.owner)
    assert client.get(f"/keys/{theirs.public_id}/").status_code == 404
    assert client.post(f"/keys/{theirs.public_id}/", {"name": "mine"}).status_code == 404
    assert client.post(f"/keys/{theirs.public_id}/rotate/", {"grace": "0"}).status_code == 404
    assert client.post(f"/keys/{theirs.public_id}/revoke/").status_code == 404
    assert client.post("/keys/bulk/", {"keys": [theirs.public_id], "action": "revoke"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_live_keys_need_keys_live_to_manage(world, as_user, make_key):
    live, _ = make_key(environment="live")
    client = as_user(world.teammate)  # a developer: keys:manage but not keys:live
    html = client.get(f"/keys/{live.public_id}/").content.decode()
    assert "Revoke key" not in html
    assert client.post(f"/keys/{live.public_id}/revoke/").status_code == 403
    assert client.post(f"/keys/{live.public_id}/rotate/", {"grace": "0"}).status_code == 403
    live.refresh_from_db()
    assert live.revoked_at is None


def test_saving_settings_goes_through_the_service(world, as_user, make_key):
    key, _ = make_key()
    client = as_user(world.teammate)
    response = client.post(
        f"/keys/{key.public_id}/",
        {
            "name": "Renamed",
            "description": "",
            "scopes": ["payments:read"],
            "expiry": "30",
            "allowed_ips": "192.0.2.1",
            "allowed_countries": "FR",
            "rate_limit_per_hour": "60",
        },
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.name, key.scopes, key.allowed_ips, key.allowed_countries) == (
        "Renamed",
        ["payments:read"],
        ["192.0.2.1/32"],
        ["FR"],
    )
    assert key.rate_limit_per_hour == 60 and key.expires_at is not None
    assert AuditLog.objects.filter(action="apikey.updated", target_id=key.public_id).exists()


def test_bad_settings_stay_next_to_their_fields_and_change_nothing(world, as_user, make_key):
    key, _ = make_key()
    response = as_user(world.teammate).post(
        f"/keys/{key.public_id}/",
        {"name": "Renamed", "scopes": ["keys:read"], "expiry": "keep", "allowed_ips": "300.1.1.1"},
    )
    assert response.status_code == 400
    assert 'id="id_allowed_ips_error"' in response.content.decode()
    key.refresh_from_db()
    assert key.name == "CI key"


def test_rotation_shows_the_new_secret_once_and_keeps_the_old_one_for_the_grace(world, as_user, make_key):
    key, old_secret = make_key()
    client = as_user(world.teammate)
    response = client.post(f"/keys/{key.public_id}/rotate/", {"grace": "86400"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    html = response.content.decode()
    new_secret = _secret_in(html)
    assert new_secret != old_secret and "24 hours" in html
    key.refresh_from_db()
    assert timedelta(hours=23) < key.previous_valid_until - timezone.now() <= timedelta(hours=24)
    assert new_secret not in client.get(f"/keys/{key.public_id}/").content.decode()


def test_revoking_asks_for_confirmation_and_revokes(world, as_user, make_key):
    key, _ = make_key()
    client = as_user(world.teammate)
    html = client.get(f"/keys/{key.public_id}/").content.decode()
    assert re.search(r'data-confirm="Revoke[^"]*"[^>]*>Revoke key', html)
    response = client.post(f"/keys/{key.public_id}/revoke/", {"reason": "Laptop stolen"})
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_reason == "Laptop stolen"


# ---- bulk ----------------------------------------------------------------------------------------


def test_bulk_revoke_reports_how_many_changed(world, as_user, make_key):
    keys = [make_key(name=f"bulk-{n}")[0] for n in range(3)]
    services.apikey_revoke(key=keys[0], actor=world.membership(world.owner))
    client = as_user(world.teammate)
    response = client.post(
        "/keys/bulk/",
        {"keys": [k.public_id for k in keys], "action": "revoke", "next": "/keys/?status=active"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/keys/?status=active"
    assert "2 keys revoked." in response.content.decode()
    assert ApiKey.objects.filter(revoked_at__isnull=False).count() == 3


def test_bulk_extend_and_scopes_change_every_selected_key(world, as_user, make_key):
    keys = [make_key(name=f"bulk-{n}")[0] for n in range(2)]
    client = as_user(world.owner)
    ids = [k.public_id for k in keys]
    response = client.post("/keys/bulk/", {"keys": ids, "action": "extend", "expiry_days": "365"}, follow=True)
    assert "2 keys will expire in 365 days." in response.content.decode()
    response = client.post("/keys/bulk/", {"keys": ids, "action": "scopes", "bulk_scopes": ["fx:read"]}, follow=True)
    assert "Scopes replaced on 2 keys." in response.content.decode()
    for key in keys:
        key.refresh_from_db()
        assert key.scopes == ["fx:read"] and key.expires_at > timezone.now() + timedelta(days=364)


def test_bulk_rotate_shows_every_new_secret_once(world, as_user, make_key):
    keys = [make_key(name=f"bulk-{n}")[0] for n in range(2)]
    response = as_user(world.owner).post(
        "/keys/bulk/", {"keys": [k.public_id for k in keys], "action": "rotate", "grace": "3600"}
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert len(SECRET.findall(response.content.decode())) == 2


def test_bulk_without_a_selection_changes_nothing(world, as_user, make_key):
    make_key()
    response = as_user(world.owner).post("/keys/bulk/", {"action": "revoke"}, follow=True)
    assert "Select at least one key." in response.content.decode()
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()


# ---- templates and the naming policy ---------------------------------------------------------


def test_templates_are_managed_by_admins_only(world, as_user):
    assert as_user(world.teammate).get("/keys/templates/").status_code == 403
    assert as_user(world.read_only).get("/keys/naming-policy/").status_code == 403
    client = as_user(world.admin)
    assert client.get("/keys/templates/").status_code == 200
    response = client.post(
        "/keys/templates/new/",
        {"name": "CI", "environment": "", "scopes": ["keys:read"], "expires_in_days": "30", "allowed_ips": ""},
    )
    assert response.status_code == 302
    template = KeyTemplate.objects.get(organization=world.org, name="CI")
    assert template.expires_in_days == 30
    response = client.post(
        f"/keys/templates/{template.public_id}/",
        {"name": "CI runners", "environment": "test", "scopes": ["keys:read", "fx:read"], "allowed_ips": "bad"},
    )
    assert response.status_code == 400 and 'id="id_allowed_ips_error"' in response.content.decode()
    response = client.post(
        f"/keys/templates/{template.public_id}/",
        {"name": "CI runners", "environment": "test", "scopes": ["keys:read", "fx:read"], "allowed_ips": ""},
    )
    template.refresh_from_db()
    assert template.name == "CI runners" and template.scopes == ["fx:read", "keys:read"]
    assert "CI runners" in client.get("/keys/templates/").content.decode()
    assert client.post(f"/keys/templates/{template.public_id}/delete/").status_code == 302
    assert not KeyTemplate.objects.exists()


def test_another_organisations_template_is_404(world, as_user):
    theirs = services.key_template_create(
        organization=world.outsider_org,
        actor_membership=world.membership(world.outsider, world.outsider_org),
        name="Theirs",
        scopes=["keys:read"],
    )
    client = as_user(world.owner)
    assert client.get(f"/keys/templates/{theirs.public_id}/").status_code == 404
    assert client.post(f"/keys/templates/{theirs.public_id}/delete/").status_code == 404
    assert client.get(f"/keys/new/?template={theirs.public_id}").status_code == 404


def test_the_naming_policy_page_saves_and_rejects_a_broken_pattern(world, as_user):
    client = as_user(world.owner)
    assert client.get("/keys/naming-policy/").status_code == 200
    response = client.post("/keys/naming-policy/", {"name_pattern": "prod-(", "name_message": ""})
    assert response.status_code == 400 and 'id="id_name_pattern_error"' in response.content.decode()
    assert not KeyPolicy.objects.exists()
    response = client.post("/keys/naming-policy/", {"name_pattern": "prod-.+", "name_message": "Use prod-"})
    assert response.status_code == 302
    assert KeyPolicy.objects.get(organization=world.org).name_pattern == "prod-.+"
