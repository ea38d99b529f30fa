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
