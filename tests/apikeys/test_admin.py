"""Django admin for keys: lists, filters, search, and the bulk revoke action."""

from __future__ import annotations

from accounts.models import AuditLog
from apikeys.models import ApiKey


def test_staff_list_filter_and_search_keys(admin_client, make_key):
    key, _ = make_key(name="searchable-key")
    filters = {"q": "searchable", "status": "active", "environment": "test"}
    response = admin_client.get("/admin/apikeys/apikey/", filters)
    assert response.status_code == 200
    assert key.public_id.encode() in response.content
    assert admin_client.get("/admin/apikeys/requestlog/").status_code == 200


def test_staff_revoke_keys_in_bulk_through_the_service(admin_client, admin_user, make_key):
    keys = [make_key(name=f"k{i}")[0] for i in range(2)]
    response = admin_client.post(
        "/admin/apikeys/apikey/",
        {"action": "revoke_selected", "_selected_action": [k.pk for k in keys]},
        follow=True,
    )
    assert response.status_code == 200
    assert ApiKey.objects.filter(revoked_at__isnull=False).count() == 2
    assert AuditLog.objects.filter(action="apikey.revoked", actor=admin_user).count() == 2


def test_staff_see_every_block_on_the_platform_and_lift_one(admin_client, admin_user, make_key, settings):
    from apikeys.ratelimit import block_list, limiter

    settings.APIKEY_PENALTY_THRESHOLD = 2
    key, _ = make_key(name="hammering-key")
    for subject in (f"key:{key.pk}", "ip:203.0.113.9"):
        while not limiter.strike(subject):
            pass

    page = admin_client.get("/admin/apikeys/apikey/blocks/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "hammering-key" in body and "203.0.113.9" in body
    assert "/admin/apikeys/apikey/blocks/" in admin_client.get("/admin/apikeys/apikey/").content.decode()

    response = admin_client.post("/admin/apikeys/apikey/blocks/", {"subject": f"key:{key.pk}"})
    assert response.status_code == 302
    assert [b.subject for b in block_list([f"key:{key.pk}", "ip:203.0.113.9"])] == ["ip:203.0.113.9"]
    entry = AuditLog.objects.get(action="ratelimit.block_lifted")
    assert entry.actor == admin_user and entry.organization == key.organization
    assert entry.details == {"subject": f"key:{key.public_id}"}


def test_members_cannot_open_the_staff_blocks_page(client, world):
    client.force_login(world.owner)
    response = client.get("/admin/apikeys/apikey/blocks/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def _act(admin_client, action: str, keys, **extra):
    return admin_client.post(
        "/admin/apikeys/apikey/", {"action": action, "_selected_action": [k.pk for k in keys], **extra}, follow=True
    )


def test_staff_rotate_keys_in_bulk_and_see_each_new_secret_once(admin_client, admin_user, make_key, client):
    keys = [make_key(name=f"r{i}", scopes=["keys:read"])[0] for i in range(2)]
    response = _act(admin_client, "rotate_selected", keys)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    secrets = [line.split("<code>")[-1].split("</code>")[0] for line in body.splitlines() if "pk_test_" in line]
    assert len(secrets) == 2
    assert AuditLog.objects.filter(action="apikey.rotated", actor=admin_user).count() == 2
    assert client.get("/api/v1/keys/current", HTTP_AUTHORIZATION=f"Bearer {secrets[0]}").status_code == 200


def test_staff_extend_expiry_in_bulk_from_the_later_of_now_and_the_current_expiry(admin_client, make_key):
    from datetime import timedelta

    from django.utils import timezone

    keys = [make_key(name=f"e{i}")[0] for i in range(2)]
    later = timezone.now() + timedelta(days=10)
    ApiKey.objects.filter(pk=keys[1].pk).update(expires_at=later)
    _act(admin_client, "extend_selected_30", keys)
    first, second = (ApiKey.objects.get(pk=k.pk) for k in keys)
    assert timedelta(days=29) < first.expires_at - timezone.now() <= timedelta(days=30)
    assert second.expires_at == later + timedelta(days=30)


def test_staff_replace_scopes_in_bulk_through_a_confirmation_form(admin_client, make_key):
    keys = [make_key(name=f"s{i}", scopes=["keys:read"])[0] for i in range(2)]
    form = _act(admin_client, "set_scopes_selected", keys)
    assert b"Replace the scopes of 2 key(s)" in form.content
    _act(admin_client, "set_scopes_selected", keys, apply="1", scopes=["payments:read", "refunds:read"])
    assert {tuple(k.scopes) for k in ApiKey.objects.filter(pk__in=[k.pk for k in keys])} == {
        ("payments:read", "refunds:read")
    }
    _act(admin_client, "set_scopes_selected", keys, apply="1", scopes=["not:a-scope"])
    assert {tuple(k.scopes) for k in ApiKey.objects.filter(pk__in=[k.pk for k in keys])} == {
        ("payments:read", "refunds:read")
    }
