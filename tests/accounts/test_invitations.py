import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.middleware import SESSION_ORG_KEY
from accounts.models import AuditLog, Invitation, Membership, Role, RoleName
from tests.factories import make_user

pytestmark = pytest.mark.django_db

MEMBERS = reverse("accounts:members")


def _invite(client, email, role="developer"):
    return client.post(MEMBERS, {"email": email, "role": role})


def _token_from(mail) -> str:
    return re.search(r"/accounts/invitations/([\w-]+)/", mail.body).group(1)


@pytest.fixture
def invited(world, login, mailoutbox, django_capture_on_commit_callbacks):
    """An invitation of new@acme.test as developer, and its raw token from the e-mail."""
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(login(world.admin), "New@Acme.test")
    assert response.status_code == 302
    invitation = Invitation.objects.get(email="new@acme.test")
    return invitation, _token_from(mailoutbox[-1])


def test_an_invitation_is_emailed_with_a_link_whose_token_is_stored_only_as_a_hash(world, invited, mailoutbox):
    invitation, token = invited
    assert mailoutbox[-1].to == ["new@acme.test"]
    assert "Acme Payments" in mailoutbox[-1].subject
    assert len(token) >= 43
    assert invitation.token_hash == services.invitation_token_hash(token)
    assert token not in invitation.token_hash
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)
    assert invitation.invited_by == world.admin
    assert AuditLog.objects.filter(action="invitation.created", target_id=invitation.public_id).exists()


def test_pending_invitations_are_listed_on_the_members_page(world, invited, login):
    body = login(world.owner).get(MEMBERS).content.decode()
    assert "new@acme.test" in body
    assert "Revoke" in body


def test_a_read_only_member_cannot_invite(world, login):
    response = _invite(login(world.read_only), "x@acme.test")
    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_an_admin_cannot_invite_an_owner(world, login):
    response = _invite(login(world.admin), "boss@acme.test", role="owner")
    assert response.status_code == 400
    assert not Invitation.objects.exists()


def test_inviting_an_existing_member_is_refused(world, login):
    response = _invite(login(world.owner), "DEV@acme.test")
    assert response.status_code == 400
    assert "already a member" in response.content.decode()


def test_inviting_with_a_custom_role_richer_than_yours_is_refused(world, login):
    rich = Role.objects.create(organization=world.org, name="Billing", permissions=["billing:manage"])
    response = _invite(login(world.admin), "b@acme.test", role=f"custom:{rich.public_id}")
    assert response.status_code == 400
    assert not Invitation.objects.exists()


def test_inviting_with_a_custom_role_of_another_organisation_is_refused(world, login):
    foreign = Role.objects.create(organization=world.outsider_org, name="Foreign", permissions=["org:read"])
    response = _invite(login(world.owner), "b@acme.test", role=f"custom:{foreign.public_id}")
    assert response.status_code == 400
    assert not Invitation.objects.exists()


def test_inviting_with_a_custom_role(world, login):
    role = Role.objects.create(organization=world.org, name="Support", permissions=["support:read"])
    _invite(login(world.owner), "s@acme.test", role=f"custom:{role.public_id}")
    invitation = Invitation.objects.get(email="s@acme.test")
    assert (invitation.role, invitation.custom_role) == (RoleName.CUSTOM, role)


def test_reinviting_replaces_the_pending_invitation(world, invited, login):
    first, _ = invited
    _invite(login(world.owner), "new@acme.test", role="read_only")
    first.refresh_from_db()
    assert first.status == Invitation.Status.REVOKED
    assert Invitation.objects.get(email="new@acme.test", revoked_at=None).role == "read_only"


def test_the_accept_page_explains_how_to_sign_in_when_signed_out(client, invited):
    _, token = invited
    client.logout()
    url = reverse("accounts:invitation_accept", args=[token])
    response = client.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Join Acme Payments" in body
    assert f"/accounts/login/?next={url.replace('/', '%2F')}" in body
    assert "/accounts/signup/?next=" in body and "email=new%40acme.test" in body


def test_the_invited_user_accepts_and_the_organisation_becomes_current(world, invited, client):
    invitation, token = invited
    user = make_user("new@acme.test")
    client.force_login(user)
    url = reverse("accounts:invitation_accept", args=[token])
    assert client.get(url).status_code == 200
    response = client.post(url)
    assert response.status_code == 302
    membership = Membership.objects.get(user=user, organization=world.org)
    assert membership.role == RoleName.DEVELOPER
    assert client.session[SESSION_ORG_KEY] == world.org.public_id
    invitation.refresh_from_db()
    assert invitation.accepted_by == user and invitation.status == Invitation.Status.ACCEPTED
    assert AuditLog.objects.filter(action="invitation.accepted", actor=user).exists()
    # Accepting twice (a double click) is harmless.
    assert client.post(url).status_code == 302
    assert Membership.objects.filter(user=user, organization=world.org).count() == 1


def test_accepting_with_another_email_is_refused(world, invited, client):
    _, token = invited
    client.force_login(world.outsider)
    response = client.post(reverse("accounts:invitation_accept", args=[token]))
    assert response.status_code == 400
    assert "another e-mail address" in response.content.decode()
    assert not Membership.objects.filter(user=world.outsider, organization=world.org).exists()


def test_an_unverified_user_cannot_accept(world, invited, client):
    _, token = invited
    client.force_login(make_user("new@acme.test", verified=False))
    response = client.post(reverse("accounts:invitation_accept", args=[token]))
    assert response.status_code == 400
    assert Membership.objects.filter(organization=world.org).count() == 4


def test_an_expired_invitation_is_refused(world, invited, client):
    invitation, token = invited
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client.force_login(make_user("new@acme.test"))
    response = client.post(reverse("accounts:invitation_accept", args=[token]))
    assert response.status_code == 400
    assert "expired" in response.content.decode()
    assert Membership.objects.filter(organization=world.org).count() == 4


def test_a_revoked_invitation_is_refused(world, invited, login, client):
    invitation, token = invited
    response = login(world.admin).post(reverse("accounts:invitation_revoke", args=[invitation.public_id]))
    assert response.status_code == 302
    assert AuditLog.objects.filter(action="invitation.revoked").exists()
    client.force_login(make_user("new@acme.test"))
    response = client.post(reverse("accounts:invitation_accept", args=[token]))
    assert response.status_code == 400
    assert "withdrawn" in response.content.decode()


def test_a_used_invitation_cannot_be_reused_by_someone_else(world, invited, client):
    invitation, token = invited
    services.invitation_accept(invitation=invitation, user=make_user("new@acme.test"))
    other = make_user("new2@acme.test")
    client.force_login(other)
    response = client.post(reverse("accounts:invitation_accept", args=[token]))
    assert response.status_code == 400
    assert "already been used" in response.content.decode()
    assert not Membership.objects.filter(user=other).exists()


def test_a_tampered_token_answers_404(world, invited, client):
    _, token = invited
    client.force_login(make_user("new@acme.test"))
    tampered = token[:-2] + ("xx" if token[-2:] != "xx" else "yy")
    response = client.post(reverse("accounts:invitation_accept", args=[tampered]))
    assert response.status_code == 404
    assert "not valid" in response.content.decode()
    assert Membership.objects.filter(organization=world.org).count() == 4


def test_revoking_another_organisations_invitation_answers_404(world, login):
    foreign, _ = services.invitation_create(
        actor=world.membership(world.outsider, world.outsider_org), email="x@globex.test", role="developer"
    )
    response = login(world.owner).post(reverse("accounts:invitation_revoke", args=[foreign.public_id]))
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == Invitation.Status.PENDING


def test_a_read_only_member_cannot_revoke(world, invited, login):
    invitation, _ = invited
    response = login(world.read_only).post(reverse("accounts:invitation_revoke", args=[invitation.public_id]))
    assert response.status_code == 403
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.PENDING
