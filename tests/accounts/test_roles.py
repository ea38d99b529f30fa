import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts import services
from accounts.models import AuditLog, Role
from tests.factories import add_member, make_user

pytestmark = pytest.mark.django_db

ROLES = reverse("accounts:roles")
NEW = reverse("accounts:role_create")


def test_the_roles_page_lists_custom_and_built_in_roles(world, login):
    Role.objects.create(organization=world.org, name="Support desk", permissions=["support:read"])
    Role.objects.create(organization=world.outsider_org, name="Globex secret", permissions=["org:read"])
    body = login(world.admin).get(ROLES).content.decode()
    assert "Support desk" in body
    assert "Globex secret" not in body
    assert "Read-only" in body


def test_the_role_form_shows_the_catalogue_grouped(world, login):
    body = login(world.owner).get(NEW).content.decode()
    assert "<legend>Sandbox</legend>" in body
    assert 'value="payments:write"' in body


def test_a_developer_cannot_manage_roles(world, login):
    client = login(world.teammate)
    assert client.get(ROLES).status_code == 403
    assert client.post(NEW, {"name": "X", "permissions": ["org:read"]}).status_code == 403
    assert not Role.objects.exists()


def test_an_admin_creates_a_custom_role(world, login):
    response = login(world.admin).post(
        NEW,
        {"name": "Support desk", "description": "Answers tickets", "permissions": ["support:read", "support:write"]},
    )
    assert response.status_code == 302
    role = Role.objects.get(organization=world.org, name="Support desk")
    assert role.permissions == ["support:read", "support:write"]
    assert AuditLog.objects.filter(action="role.created", target_id=role.public_id).exists()


def test_an_unknown_permission_code_is_refused(world, login):
    response = login(world.owner).post(NEW, {"name": "Odd", "permissions": ["org:read", "nukes:launch"]})
    assert response.status_code == 400
    assert "nukes:launch" in response.content.decode()
    assert not Role.objects.exists()
    with pytest.raises(ValidationError, match="Unknown permissions"):
        services.role_create(actor=world.membership(world.owner), name="Odd", permissions=["nukes:launch"])


def test_a_role_with_a_permission_the_creator_lacks_is_refused(world, login):
    response = login(world.admin).post(NEW, {"name": "Billing", "permissions": ["billing:manage"]})
    assert response.status_code == 400
    assert "billing:manage" in response.content.decode()
    assert not Role.objects.exists()
    with pytest.raises(ValidationError, match="your own role"):
        services.role_create(actor=world.membership(world.admin), name="B", permissions=["billing:manage"])


def test_an_empty_role_or_a_duplicate_name_is_refused(world, login):
    client = login(world.owner)
    assert client.post(NEW, {"name": "Nothing", "permissions": []}).status_code == 400
    Role.objects.create(organization=world.org, name="Support", permissions=["support:read"])
    response = client.post(NEW, {"name": "support", "permissions": ["support:read"]})
    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    assert client.post(NEW, {"name": "Admin", "permissions": ["support:read"]}).status_code == 400


def test_editing_a_role_changes_what_its_members_may_do(world, login):
    role = Role.objects.create(organization=world.org, name="Support", permissions=["support:read"])
    member = add_member(world.org, make_user(), "custom", custom_role=role)
    response = login(world.owner).post(
        reverse("accounts:role_edit", args=[role.public_id]),
        {"name": "Support", "permissions": ["support:read", "members:read"]},
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.has_perm("members:read")
    entry = AuditLog.objects.get(action="role.updated")
    assert entry.details["added"] == ["members:read"]


def test_an_admin_cannot_edit_a_role_richer_than_their_own(world, login):
    role = Role.objects.create(organization=world.org, name="Billing", permissions=["billing:manage"])
    response = login(world.admin).post(
        reverse("accounts:role_edit", args=[role.public_id]), {"name": "Billing", "permissions": ["billing:read"]}
    )
    assert response.status_code == 400
    role.refresh_from_db()
    assert role.permissions == ["billing:manage"]


def test_another_organisations_role_answers_404(world, login):
    foreign = Role.objects.create(organization=world.outsider_org, name="Theirs", permissions=["org:read"])
    client = login(world.owner)
    assert client.get(reverse("accounts:role_edit", args=[foreign.public_id])).status_code == 404
    assert client.post(reverse("accounts:role_delete", args=[foreign.public_id])).status_code == 404
    assert Role.objects.filter(pk=foreign.pk).exists()


def test_a_role_is_deleted_when_nobody_has_it(world, login):
    role = Role.objects.create(organization=world.org, name="Temp", permissions=["org:read"])
    response = login(world.owner).post(reverse("accounts:role_delete", args=[role.public_id]))
    assert response.status_code == 302
    assert not Role.objects.filter(pk=role.pk).exists()
    assert AuditLog.objects.filter(action="role.deleted", details__name="Temp").exists()


def test_a_role_still_assigned_to_members_cannot_be_deleted(world, login):
    role = Role.objects.create(organization=world.org, name="Support", permissions=["support:read"])
    add_member(world.org, make_user(), "custom", custom_role=role)
    response = login(world.owner).post(reverse("accounts:role_delete", args=[role.public_id]), follow=True)
    assert "still the role of 1 member" in response.content.decode()
    assert Role.objects.filter(pk=role.pk).exists()


def test_a_member_can_be_given_a_custom_role(world, login):
    role = Role.objects.create(organization=world.org, name="Support", permissions=["support:read"])
    dev = world.membership(world.teammate)
    login(world.admin).post(
        reverse("accounts:member_update", args=[dev.public_id]), {"role": f"custom:{role.public_id}"}
    )
    dev.refresh_from_db()
    assert dev.custom_role == role
    assert dev.permissions == frozenset({"support:read"})
