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
