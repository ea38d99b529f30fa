import re
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.urls import reverse

from accounts.models import AuditLog, LoginAttempt, Membership, Organization, User, UserSession
from accounts.services import EMAIL_VERIFY_SALT, email_verification_token
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

SIGNUP = {
    "full_name": "Nora New",
    "email": "Nora@Example.com",
    "password1": PASSWORD,
    "password2": PASSWORD,
    "organization_name": "Nora Labs",
    "organization_kind": "partner",
}


def _link_from(mail) -> str:
    return re.search(r"http://[^\s]+/accounts/verify-email/[^\s/]+/", mail.body).group(0)


def _path(url: str) -> str:
    return urlsplit(url).path


def test_signing_up_creates_the_user_and_organisation_signs_in_and_sends_a_link(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:signup"), SIGNUP)

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:verify_email_sent")
    user = User.objects.get(email="nora@example.com")
    assert user.full_name == "Nora New"
    assert user.email_verified_at is None
    membership = Membership.objects.get(user=user)
    assert membership.role == "owner"
    assert membership.organization.name == "Nora Labs"
    assert membership.organization.kind == Organization.Kind.PARTNER
    assert UserSession.objects.filter(user=user, session_key=client.session.session_key).exists()
    assert AuditLog.objects.filter(action="user.signed_up", actor=user).exists()
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["nora@example.com"]
    assert "/accounts/verify-email/" in mailoutbox[0].body
    page = client.get(reverse("accounts:verify_email_sent"))
    assert b"Check your inbox" in page.content


def test_an_unverified_user_is_sent_to_check_their_inbox(client):
    user = make_user("late@example.com", verified=False)
    client.force_login(user)
    response = client.get(reverse("portal:dashboard"))
    assert response["Location"] == reverse("accounts:verify_email_sent")


def test_a_duplicate_email_in_another_case_is_refused_next_to_the_field(client):
    make_user("nora@example.com")
    response = client.post(reverse("accounts:signup"), SIGNUP)
    assert response.status_code == 400
    assert "already exists" in response.context["form"].errors["email"][0]
    assert b'id="id_email_error"' in response.content
    assert User.objects.filter(email__iexact="nora@example.com").count() == 1
    assert not Organization.objects.filter(name="Nora Labs").exists()


def test_a_weak_password_is_refused_next_to_the_field(client):
    response = client.post(reverse("accounts:signup"), {**SIGNUP, "password1": "12345", "password2": "12345"})
    errors = response.context["form"].errors["password1"]
    assert any("too short" in e for e in errors)
    assert any("entirely numeric" in e or "too common" in e for e in errors)
    assert not User.objects.filter(email="nora@example.com").exists()


def test_mismatched_passwords_are_refused(client):
    response = client.post(reverse("accounts:signup"), {**SIGNUP, "password2": PASSWORD + "x"})
    assert "do not match" in response.context["form"].errors["password2"][0]


def test_an_organisation_name_is_required_for_a_normal_sign_up(client):
    response = client.post(reverse("accounts:signup"), {**SIGNUP, "organization_name": ""})
    assert response.context["form"].errors["organization_name"]
    assert not User.objects.filter(email="nora@example.com").exists()


def test_signing_up_to_accept_an_invitation_creates_no_organisation_and_returns_there_after_verifying(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    invitation_path = "/accounts/invitations/tok123/"
    form_page = client.get(reverse("accounts:signup"), {"next": invitation_path})
    assert "organization_name" not in form_page.context["form"].fields
    data = {k: v for k, v in SIGNUP.items() if not k.startswith("organization")}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:signup"), {**data, "next": invitation_path})
    assert response.status_code == 302
    user = User.objects.get(email="nora@example.com")
    assert not Membership.objects.filter(user=user).exists()

    verified = client.get(_path(_link_from(mailoutbox[0])))
    assert verified.status_code == 302
    assert verified["Location"] == invitation_path
    user.refresh_from_db()
    assert user.email_verified_at is not None


def test_a_next_outside_invitations_is_not_carried_into_the_link(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("accounts:signup"), {**SIGNUP, "next": "/dashboard/"})
    token = _link_from(mailoutbox[0]).rstrip("/").rsplit("/", 1)[1]
    assert "n" not in signing.loads(token, salt=EMAIL_VERIFY_SALT)


def test_the_verification_link_confirms_the_address_once_and_is_audited(client):
    user = make_user("v@example.com", verified=False)
    client.force_login(user)
    url = reverse("accounts:verify_email", args=[email_verification_token(user=user)])
    response = client.get(url)
    assert response["Location"] == reverse("portal:dashboard")
    user.refresh_from_db()
    first = user.email_verified_at
    assert first is not None
    assert AuditLog.objects.filter(action="user.email_verified", actor=user).count() == 1
    client.get(url)
    user.refresh_from_db()
    assert user.email_verified_at == first
    assert AuditLog.objects.filter(action="user.email_verified", actor=user).count() == 1


def test_an_expired_verification_link_shows_a_page_offering_a_new_one(client, settings):
    user = make_user("v@example.com", verified=False)
    client.force_login(user)
    token = email_verification_token(user=user)
    settings.EMAIL_VERIFICATION_MAX_AGE = -1
    response = client.get(reverse("accounts:verify_email", args=[token]))
    assert response.status_code == 400
    assert b"This link has expired" in response.content
    assert reverse("accounts:verify_email_resend").encode() in response.content
    user.refresh_from_db()
    assert user.email_verified_at is None


def test_a_tampered_verification_link_is_refused(client):
    user = make_user("v@example.com", verified=False)
    token = email_verification_token(user=user)
    response = client.get(reverse("accounts:verify_email", args=[token[:-2] + ("AA" if token[-2:] != "AA" else "BB")]))
    assert response.status_code == 400
    assert b"does not work" in response.content
    user.refresh_from_db()
    assert user.email_verified_at is None


def test_a_link_for_a_previous_address_stops_working(client):
    user = make_user("old@example.com", verified=False)
    token = email_verification_token(user=user)
    User.objects.filter(pk=user.pk).update(email="new@example.com")
    response = client.get(reverse("accounts:verify_email", args=[token]))
    assert response.status_code == 400


def test_resending_the_link_is_post_only_and_throttled(client, mailoutbox, django_capture_on_commit_callbacks):
    user = make_user("v@example.com", verified=False)
    client.force_login(user)
    assert client.get(reverse("accounts:verify_email_resend")).status_code == 405
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(reverse("accounts:verify_email_resend")).status_code == 302
    assert len(mailoutbox) == 3
    response = client.post(reverse("accounts:verify_email_resend"))
    assert response.status_code == 429
    assert b"Too many attempts" in response.content


def test_sign_up_is_throttled_per_address(client):
    for _ in range(3):
        client.post(reverse("accounts:signup"), {**SIGNUP, "password2": "nope"})
    response = client.post(reverse("accounts:signup"), {**SIGNUP, "email": "NORA@example.com", "password2": "nope"})
    assert response.status_code == 429
    assert LoginAttempt.objects.count() == 0


def test_the_link_opened_in_a_signed_out_browser_confirms_and_asks_to_log_in(client):
    user = make_user("v@example.com", verified=False)
    response = client.get(reverse("accounts:verify_email", args=[email_verification_token(user=user)]))
    assert response["Location"] == reverse("accounts:login")
    user.refresh_from_db()
    assert user.email_verified_at is not None
