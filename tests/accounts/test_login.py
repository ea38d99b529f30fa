import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditLog, KnownDevice, LoginAttempt, UserSession
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Version/17.5 Safari/604.1"


def _login(client, email, password=PASSWORD, *, next=None, **headers):
    data = {"email": email, "password": password}
    if next is not None:
        data["next"] = next
    return client.post(reverse("accounts:login"), data, **headers)


def test_a_correct_password_signs_in_records_the_attempt_session_and_audit(client):
    user = make_user("ann@example.com")
    response = _login(client, "Ann@Example.com", HTTP_USER_AGENT=FIREFOX)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:dashboard")
    assert client.session["_auth_user_id"] == str(user.pk)
    attempt = LoginAttempt.objects.get()
    assert attempt.succeeded and attempt.user == user and attempt.ip == "127.0.0.1"
    session = UserSession.objects.get(user=user)
    assert session.session_key == client.session.session_key
    assert AuditLog.objects.filter(action="user.login_succeeded", actor=user).exists()


def test_a_wrong_password_gets_a_generic_message_and_is_recorded(client):
    user = make_user("ann@example.com")
    response = _login(client, "ann@example.com", "wrong-password")
    assert response.status_code == 400
    assert "do not match an account" in response.context["form"].non_field_errors()[0]
    assert "_auth_user_id" not in client.session
    attempt = LoginAttempt.objects.get()
    assert not attempt.succeeded and attempt.user == user and attempt.reason == "bad_credentials"
    assert AuditLog.objects.filter(action="user.login_failed", actor=user, organization=None).exists()


def test_an_unknown_address_gets_the_same_message(client):
    response = _login(client, "nobody@example.com", "wrong-password")
    assert "do not match an account" in response.context["form"].non_field_errors()[0]
    assert LoginAttempt.objects.get().user is None


def test_a_deactivated_account_cannot_sign_in(client):
    make_user("gone@example.com", is_active=False)
    response = _login(client, "gone@example.com")
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


def test_login_is_throttled_per_account_whatever_the_case_of_the_address(client):
    make_user("ann@example.com")
    for i in range(5):
        _login(client, "ANN@example.com" if i % 2 else "ann@example.com", "wrong-password")
    response = _login(client, "ann@example.com")
    assert response.status_code == 429
    assert b"Too many attempts" in response.content
    assert "_auth_user_id" not in client.session
    assert LoginAttempt.objects.filter(reason="throttled").count() == 1


def test_login_is_throttled_per_ip_across_accounts(client):
    for i in range(10):
        _login(client, f"spray{i}@example.com", "wrong-password")
    assert _login(client, "another@example.com", "wrong-password").status_code == 429


def test_a_safe_next_is_followed(client):
    make_user("ann@example.com")
    response = _login(client, "ann@example.com", next="/accounts/settings/")
    assert response["Location"] == "/accounts/settings/"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"]
)
def test_an_open_redirect_in_next_is_ignored(client, target):
    make_user("ann@example.com")
    response = _login(client, "ann@example.com", next=target)
    assert response["Location"] == reverse("portal:dashboard")


def test_the_login_form_needs_a_csrf_token():
    make_user("ann@example.com")
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("accounts:login"), {"email": "ann@example.com", "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in strict.session


def test_logout_is_post_only_and_ends_the_session(client):
    user = make_user("ann@example.com")
    _login(client, "ann@example.com")
    assert client.get(reverse("accounts:logout")).status_code == 405
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert not UserSession.objects.filter(user=user).exists()
    assert AuditLog.objects.filter(action="user.logged_out", actor=user).exists()


def test_the_first_device_is_remembered_silently_and_a_new_one_is_reported(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    user = make_user("ann@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        _login(client, "ann@example.com", HTTP_USER_AGENT=FIREFOX, REMOTE_ADDR="203.0.113.7")
    assert KnownDevice.objects.filter(user=user).count() == 1
    assert mailoutbox == []

    # Same browser, another address in the same /24: the same device.
    with django_capture_on_commit_callbacks(execute=True):
        _login(Client(), "ann@example.com", HTTP_USER_AGENT=FIREFOX, REMOTE_ADDR="203.0.113.99")
    assert KnownDevice.objects.filter(user=user).count() == 1
    assert mailoutbox == []

    with django_capture_on_commit_callbacks(execute=True):
        _login(Client(), "ann@example.com", HTTP_USER_AGENT=SAFARI, REMOTE_ADDR="198.51.100.4")
    assert KnownDevice.objects.filter(user=user).count() == 2
    assert len(mailoutbox) == 1
    assert "New sign-in" in mailoutbox[0].subject
    assert "Safari on iOS" in mailoutbox[0].body
    assert "198.51.100.4" in mailoutbox[0].body


def test_the_login_page_redirects_a_signed_in_user(client):
    client.force_login(make_user("ann@example.com"))
    assert client.get(reverse("accounts:login"))["Location"] == reverse("portal:dashboard")
