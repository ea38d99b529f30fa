import pytest
from django.urls import reverse

from accounts.models import AuditLog
from accounts.services import audit_record

pytestmark = pytest.mark.django_db

URL = reverse("accounts:audit_log")


def _entries(world, n, action="key.created", actor=None):
    for i in range(n):
        audit_record(action=action, actor=actor or world.owner, organization=world.org, details={"n": i})


def test_the_audit_log_lists_the_organisations_entries_newest_first(world, login):
    audit_record(action="first.thing", actor=world.owner, organization=world.org)
    audit_record(action="second.thing", actor=world.admin, organization=world.org)
    audit_record(action="globex.thing", actor=world.outsider, organization=world.outsider_org)
    body = login(world.admin).get(URL).content.decode().split("<tbody>")[1]
    assert body.index("second.thing") < body.index("first.thing")
    assert "globex.thing" not in body


def test_a_developer_cannot_read_the_audit_log(world, login):
    assert login(world.teammate).get(URL).status_code == 403


def test_the_audit_log_filters_by_action_and_actor(world, login):
    _entries(world, 2, action="role.created", actor=world.owner)
    _entries(world, 2, action="member.removed", actor=world.admin)
    client = login(world.owner)
    body = client.get(URL, {"action": "role.created"}).content.decode()
    assert "<code>role.created</code>" in body and "<code>member.removed</code>" not in body
    body = client.get(URL, {"actor": "ADMIN@acme.test"}).content.decode()
    assert "<code>member.removed</code>" in body and "<code>role.created</code>" not in body


def test_the_audit_log_paginates_by_fifty(world, login):
    _entries(world, 60)
    client = login(world.owner)
    first = client.get(URL).content.decode()
    assert first.count("<code>key.created</code>") == 50
    assert "Page 1 of 2" in first
    second = client.get(URL, {"page": 2}).content.decode()
    assert second.count("<code>key.created</code>") == 10


def test_the_audit_log_query_count_does_not_grow_with_rows(world, login, django_assert_max_num_queries):
    client = login(world.owner)
    client.get(URL)
    _entries(world, 120)
    with django_assert_max_num_queries(12):
        assert client.get(URL).status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(URL, {"page": 3, "action": "key.created"}).status_code == 200


def test_audit_entries_cannot_be_changed_or_deleted(world):
    entry = audit_record(action="x.y", actor=world.owner, organization=world.org)
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        AuditLog.objects.filter(pk=entry.pk).delete()
