import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.middleware import SESSION_ORG_KEY
from accounts.models import AuditLog, Membership, Organization, PartnerProfile, TOTPDevice
from tests.factories import add_member, make_user

pytestmark = pytest.mark.django_db

SETTINGS = reverse("accounts:organization_settings")
SECURITY = reverse("accounts:security_policy")
CREATE = reverse("accounts:organization_create")
SWITCH = reverse("accounts:organization_switch")


def test_a_new_user_creates_an_organisation_and_owns_it(client):
    user = make_user()
    client.force_login(user)
    assert client.get(CREATE).status_code == 200
    response = client.post(CREATE, {"name": "Initech", "kind": "partner"})
    assert response.status_code == 302
    org = Organization.objects.get(name="Initech")
    assert org.kind == "partner"
    assert PartnerProfile.objects.filter(organization=org).exists()
    assert Membership.objects.get(user=user, organization=org).role == "owner"
    assert client.session[SESSION_ORG_KEY] == org.public_id
    assert AuditLog.objects.filter(action="organization.created", organization=org).exists()


def test_creating_an_organisation_needs_a_name(client):
    client.force_login(make_user())
    response = client.post(CREATE, {"name": " ", "kind": "developer"})
    assert response.status_code == 400
    assert not Organization.objects.exists()


def test_creating_an_organisation_needs_a_signed_in_verified_user(client):
    assert client.get(CREATE).status_code == 302
    client.force_login(make_user(verified=False))
    response = client.post(CREATE, {"name": "Nope", "kind": "developer"})
    assert response.status_code == 302
    assert not Organization.objects.exists()


def test_a_member_of_two_organisations_switches_between_them(world, login):
    add_member(world.outsider_org, world.teammate, "developer")
    client = login(world.teammate)
    response = client.post(SWITCH, {"organization": world.outsider_org.public_id})
    assert response.status_code == 302
    assert client.session[SESSION_ORG_KEY] == world.outsider_org.public_id
    assert "Globex" in client.get(reverse("portal:dashboard")).content.decode()


def test_switching_to_an_organisation_you_are_not_in_answers_404(world, login):
    client = login(world.teammate)
    client.get(reverse("accounts:members"))
    response = client.post(SWITCH, {"organization": world.outsider_org.public_id})
    assert response.status_code == 404
    assert client.session.get(SESSION_ORG_KEY) == world.org.public_id


def test_the_settings_page_shows_the_kind_and_is_read_only_for_viewers(world, login):
    body = login(world.read_only).get(SETTINGS).content.decode()
    assert "Developer organisation" in body
    assert "Acme Payments" in body
    assert 'name="website"' not in body


def test_a_read_only_member_cannot_update_the_settings(world, login):
    response = login(world.read_only).post(SETTINGS, {"name": "Hacked", "website": ""})
    assert response.status_code == 403
    world.org.refresh_from_db()
    assert world.org.name == "Acme Payments"


def test_an_admin_updates_the_name_and_website(world, login):
    response = login(world.admin).post(SETTINGS, {"name": "Acme Pay", "website": "https://acme.test"})
    assert response.status_code == 302
    world.org.refresh_from_db()
    assert (world.org.name, world.org.website) == ("Acme Pay", "https://acme.test")
    entry = AuditLog.objects.get(action="organization.updated")
    assert entry.details["changes"]["name"] == {"from": "Acme Payments", "to": "Acme Pay"}


def test_an_invalid_website_shows_an_error_next_to_the_field(world, login):
    response = login(world.admin).post(SETTINGS, {"name": "Acme", "website": "not a url"})
    assert response.status_code == 400
    assert 'id="id_website_error"' in response.content.decode()


def test_requiring_2fa_needs_your_own_second_factor(world, login):
    response = login(world.owner).post(SECURITY, {"require_2fa": "on"})
    assert response.status_code == 400
    assert "Set up two-factor authentication on your own account" in response.content.decode()
    world.org.refresh_from_db()
    assert world.org.require_2fa is False


def test_an_owner_with_2fa_requires_it_for_everyone(world, login):
    TOTPDevice.objects.create(user=world.owner, secret_encrypted="x", confirmed_at=timezone.now())
    client = login(world.owner)
    assert "dev@acme.test" in client.get(SECURITY).content.decode()
    response = client.post(SECURITY, {"require_2fa": "on"})
    assert response.status_code == 302
    world.org.refresh_from_db()
    assert world.org.require_2fa is True
    assert AuditLog.objects.filter(action="organization.2fa_required", actor=world.owner).exists()
    # A member without a second factor is now sent to set one up.
    client.force_login(world.teammate)
    assert client.get(reverse("accounts:members")).status_code == 302


def test_a_developer_cannot_change_the_security_policy(world, login):
    assert login(world.teammate).post(SECURITY, {"require_2fa": "on"}).status_code == 403
    world.org.refresh_from_db()
    assert world.org.require_2fa is False
