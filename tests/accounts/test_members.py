import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.models import AuditLog, Membership, RoleName
from tests.factories import add_member, make_user

pytestmark = pytest.mark.django_db


def _role_url(member):
    return reverse("accounts:member_update", args=[member.public_id])


def test_the_members_page_lists_every_member_with_role_and_2fa_status(world, login):
    response = login(world.read_only).get(reverse("accounts:members"))
    assert response.status_code == 200
    body = response.content.decode()
    for email in ("owner@acme.test", "admin@acme.test", "dev@acme.test", "viewer@acme.test"):
        assert email in body
    assert "outsider@globex.test" not in body
    assert "Read-only" in body
    # A read-only member sees neither the invitation form nor the role buttons.
    assert "Send invitation" not in body
    assert "Change role" not in body


def test_the_members_page_query_count_does_not_grow_with_members(world, login, django_assert_max_num_queries):
    client = login(world.owner)
    for _ in range(15):
        add_member(world.org, make_user(), "developer")
    with django_assert_max_num_queries(20):
        assert client.get(reverse("accounts:members")).status_code == 200


def test_an_admin_changes_a_developers_role_and_they_are_emailed(
    world, login, mailoutbox, django_capture_on_commit_callbacks
):
    dev = world.membership(world.teammate)
    with django_capture_on_commit_callbacks(execute=True):
        response = login(world.admin).post(_role_url(dev), {"role": "read_only"})
    assert response.status_code == 302
    dev.refresh_from_db()
    assert dev.role == RoleName.READ_ONLY
    assert AuditLog.objects.filter(action="member.role_changed", target_id=dev.public_id).exists()
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["dev@acme.test"]
    assert "Read-only" in mailoutbox[0].subject


def test_the_member_edit_page_renders_for_a_manager(world, login):
    response = login(world.owner).get(_role_url(world.membership(world.teammate)))
    assert response.status_code == 200
    assert b"Save role" in response.content


def test_a_read_only_member_posting_a_role_change_gets_403_and_nothing_changes(world, login):
    dev = world.membership(world.teammate)
    response = login(world.read_only).post(_role_url(dev), {"role": "admin"})
    assert response.status_code == 403
    dev.refresh_from_db()
    assert dev.role == RoleName.DEVELOPER


def test_a_developer_cannot_open_the_member_edit_page(world, login):
    response = login(world.teammate).get(_role_url(world.membership(world.read_only)))
    assert response.status_code == 403


def test_an_admin_cannot_make_someone_an_owner(world, login):
    dev = world.membership(world.teammate)
    response = login(world.admin).post(_role_url(dev), {"role": "owner"})
    assert response.status_code == 400
    dev.refresh_from_db()
    assert dev.role == RoleName.DEVELOPER


def test_the_service_refuses_an_owner_grant_by_an_admin(world):
    with pytest.raises(ValidationError, match="Only an owner"):
        services.member_role_change(
            membership=world.membership(world.teammate), actor=world.membership(world.admin), role="owner"
        )


def test_an_admin_cannot_demote_an_owner(world, login):
    second_owner = add_member(world.org, make_user(), "owner")
    response = login(world.admin).post(_role_url(second_owner), {"role": "developer"})
    assert response.status_code == 400
    second_owner.refresh_from_db()
    assert second_owner.role == RoleName.OWNER


def test_an_owner_can_make_another_member_an_owner(world, login):
    dev = world.membership(world.teammate)
    login(world.owner).post(_role_url(dev), {"role": "owner"})
    dev.refresh_from_db()
    assert dev.role == RoleName.OWNER


def test_the_last_owner_cannot_be_demoted(world, login):
    owner = world.membership(world.owner)
    response = login(world.owner).post(_role_url(owner), {"role": "admin"})
    assert response.status_code == 400
    assert "last owner" in response.content.decode()
    owner.refresh_from_db()
    assert owner.role == RoleName.OWNER


def test_an_owner_can_step_down_when_another_owner_remains(world, login):
    add_member(world.org, make_user(), "owner")
    owner = world.membership(world.owner)
    login(world.owner).post(_role_url(owner), {"role": "admin"})
    owner.refresh_from_db()
    assert owner.role == RoleName.ADMIN


def test_another_organisations_member_id_answers_404(world, login):
    foreign = world.membership(world.outsider, world.outsider_org)
    client = login(world.owner)
    assert client.get(_role_url(foreign)).status_code == 404
    assert client.post(_role_url(foreign), {"role": "read_only"}).status_code == 404
    assert client.post(reverse("accounts:member_remove", args=[foreign.public_id])).status_code == 404
    foreign.refresh_from_db()
    assert foreign.role == RoleName.OWNER


def test_an_admin_removes_a_member_who_is_emailed(world, login, mailoutbox, django_capture_on_commit_callbacks):
    dev = world.membership(world.teammate)
    with django_capture_on_commit_callbacks(execute=True):
        response = login(world.admin).post(reverse("accounts:member_remove", args=[dev.public_id]))
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=dev.pk).exists()
    assert AuditLog.objects.filter(action="member.removed", details__member="dev@acme.test").exists()
    assert [m.to for m in mailoutbox] == [["dev@acme.test"]]
    assert "removed" in mailoutbox[0].subject


def test_a_read_only_member_cannot_remove_anyone(world, login):
    dev = world.membership(world.teammate)
    response = login(world.read_only).post(reverse("accounts:member_remove", args=[dev.public_id]))
    assert response.status_code == 403
    assert Membership.objects.filter(pk=dev.pk).exists()


def test_removing_needs_a_post(world, login):
    dev = world.membership(world.teammate)
    response = login(world.owner).get(reverse("accounts:member_remove", args=[dev.public_id]))
    assert response.status_code == 405


def test_an_admin_cannot_remove_an_owner(world, login):
    owner = world.membership(world.owner)
    response = login(world.admin).post(reverse("accounts:member_remove", args=[owner.public_id]), follow=True)
    assert "Only an owner" in response.content.decode()
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_the_last_owner_cannot_be_removed_by_anyone(world):
    owner = world.membership(world.owner)
    with pytest.raises(ValidationError, match="Leave organisation"):
        services.member_remove(membership=owner, actor=owner)
    other_owner = add_member(world.org, make_user(), "owner")
    services.member_remove(membership=owner, actor=other_owner)
    assert not Membership.objects.filter(pk=owner.pk).exists()
    with pytest.raises(ValidationError, match="Only an owner"):
        services.member_remove(membership=other_owner, actor=world.membership(world.admin))
    assert Membership.objects.filter(pk=other_owner.pk, role="owner").exists()


def test_a_member_leaves_the_organisation(world, login):
    client = login(world.teammate)
    response = client.post(reverse("accounts:organization_leave"))
    assert response.status_code == 302
    assert not Membership.objects.filter(user=world.teammate, organization=world.org).exists()
    assert AuditLog.objects.filter(action="member.left", actor=world.teammate).exists()


def test_the_last_owner_cannot_leave(world, login):
    response = login(world.owner).post(reverse("accounts:organization_leave"), follow=True)
    assert "last owner" in response.content.decode()
    assert Membership.objects.filter(user=world.owner, organization=world.org, role="owner").exists()


def test_a_post_without_a_csrf_token_is_refused(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.owner)
    dev = world.membership(world.teammate)
    response = client.post(_role_url(dev), {"role": "read_only"})
    assert response.status_code == 403
    dev.refresh_from_db()
    assert dev.role == RoleName.DEVELOPER


class TestOwnershipTransfer:
    url = reverse("accounts:ownership_transfer")

    def test_an_owner_hands_over_and_becomes_admin(self, world, login, mailoutbox, django_capture_on_commit_callbacks):
        dev = world.membership(world.teammate)
        with django_capture_on_commit_callbacks(execute=True):
            response = login(world.owner).post(self.url, {"new_owner": dev.public_id, "password": world.password})
        assert response.status_code == 302
        dev.refresh_from_db()
        assert dev.role == RoleName.OWNER
        assert world.membership(world.owner).role == RoleName.ADMIN
        assert AuditLog.objects.filter(action="organization.ownership_transferred").exists()
        assert sorted(mailoutbox[0].to) == ["dev@acme.test", "owner@acme.test"]

    def test_the_page_renders_for_an_owner(self, world, login):
        response = login(world.owner).get(self.url)
        assert response.status_code == 200
        assert b"dev@acme.test" in response.content

    def test_a_wrong_password_changes_nothing(self, world, login):
        dev = world.membership(world.teammate)
        response = login(world.owner).post(self.url, {"new_owner": dev.public_id, "password": "nope"})
        assert response.status_code == 400
        assert "password is not correct" in response.content.decode()
        assert world.membership(world.owner).role == RoleName.OWNER
        dev.refresh_from_db()
        assert dev.role == RoleName.DEVELOPER

    def test_an_admin_cannot_transfer_ownership(self, world, login):
        assert login(world.admin).get(self.url).status_code == 403

    def test_a_member_of_another_organisation_is_not_a_candidate(self, world, login):
        foreign = world.membership(world.outsider, world.outsider_org)
        response = login(world.owner).post(self.url, {"new_owner": foreign.public_id, "password": world.password})
        assert response.status_code == 400
        foreign.refresh_from_db()
        assert world.membership(world.owner).role == RoleName.OWNER
