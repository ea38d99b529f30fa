import pytest
from django.urls import reverse

from accounts.models import AuditLog, PartnerProfile
from tests.factories import add_member, make_org, make_user

pytestmark = pytest.mark.django_db

URL = reverse("accounts:partner_profile")
COMPLETE = {
    "action": "save",
    "legal_name": "Initech GmbH",
    "registration_number": "HRB 12345",
    "country": "de",
    "website": "https://initech.test",
    "address": "Hauptstr. 1, 10115 Berlin",
    "contact_name": "Peter Gibbons",
    "contact_email": "peter@initech.test",
    "contact_phone": "+49 30 1234567",
}


@pytest.fixture
def partner(db):
    owner = make_user("owner@initech.test")
    org = make_org("Initech", owner=owner, kind="partner")
    viewer = make_user("viewer@initech.test")
    add_member(org, viewer, "read_only")
    return org, owner, viewer


def test_a_developer_organisation_has_no_partner_profile(world, login):
    assert login(world.owner).get(URL).status_code == 404


def test_the_profile_shows_status_and_what_is_missing(partner, login):
    org, owner, _ = partner
    response = login(owner).get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Not submitted" in body
    assert "Legal name" in body and "Company registration number" in body


def test_the_owner_saves_the_profile(partner, login):
    org, owner, _ = partner
    response = login(owner).post(URL, COMPLETE)
    assert response.status_code == 302
    profile = PartnerProfile.objects.get(organization=org)
    assert profile.legal_name == "Initech GmbH"
    assert profile.country == "DE"
    assert profile.missing_fields() == []
    assert AuditLog.objects.filter(action="partner.profile_updated", organization=org).exists()


def test_an_invalid_country_is_refused_next_to_the_field(partner, login):
    _, owner, _ = partner
    response = login(owner).post(URL, {**COMPLETE, "country": "Germany"})
    assert response.status_code == 400
    assert 'id="id_country_error"' in response.content.decode()


def test_a_read_only_member_sees_the_profile_but_cannot_edit_it(partner, login):
    org, _, viewer = partner
    client = login(viewer)
    body = client.get(URL).content.decode()
    assert "Save profile" not in body
    assert client.post(URL, COMPLETE).status_code == 403
    assert client.post(URL, {"action": "submit"}).status_code == 403
    assert PartnerProfile.objects.get(organization=org).legal_name == ""


def test_submitting_an_incomplete_profile_lists_what_is_missing(partner, login):
    org, owner, _ = partner
    response = login(owner).post(URL, {"action": "submit"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Missing:" in body and "legal name" in body
    assert PartnerProfile.objects.get(organization=org).verification_status == "unsubmitted"


def test_submitting_a_complete_profile_puts_it_in_review(partner, login):
    org, owner, _ = partner
    client = login(owner)
    client.post(URL, COMPLETE)
    response = client.post(URL, {"action": "submit"})
    assert response.status_code == 302
    profile = PartnerProfile.objects.get(organization=org)
    assert profile.verification_status == "pending"
    assert profile.submitted_at is not None
    assert AuditLog.objects.filter(action="partner.submitted", organization=org).exists()
    assert "Pending review" in client.get(URL).content.decode()


def test_changing_legal_details_of_a_verified_profile_sends_it_back_to_review(partner, login):
    org, owner, _ = partner
    client = login(owner)
    client.post(URL, COMPLETE)
    PartnerProfile.objects.filter(organization=org).update(verification_status="verified")
    client.post(URL, {**COMPLETE, "contact_name": "Michael Bolton"})
    assert PartnerProfile.objects.get(organization=org).verification_status == "verified"
    client.post(URL, {**COMPLETE, "legal_name": "Initrode GmbH"})
    profile = PartnerProfile.objects.get(organization=org)
    assert profile.verification_status == "pending"
    assert AuditLog.objects.filter(action="partner.profile_updated", details__back_to_review=True).exists()


def test_a_rejected_profile_shows_the_reason(partner, login):
    org, owner, _ = partner
    PartnerProfile.objects.filter(organization=org).update(
        verification_status="rejected", rejection_reason="The registration number does not match."
    )
    body = login(owner).get(URL).content.decode()
    assert "Rejected" in body
    assert "The registration number does not match." in body
