import re
from datetime import timedelta

import pyotp
import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog, EmailCode, LoginAttempt, RecoveryCode, TOTPDevice, UserSession
from accounts.services import recovery_codes_generate, totp_device_confirm, totp_device_start, totp_secret
from accounts.views.auth import PENDING_KEY
from tests.factories import PASSWORD, add_member, make_org, make_user

pytestmark = pytest.mark.django_db


def _enrolled_user(email="tia@example.com"):
    """A user with a confirmed TOTP device; returns the user, its pyotp.TOTP and the recovery codes."""
    user = make_user(email)
    device = totp_device_start(user=user)
    totp = pyotp.TOTP(totp_secret(device=device))
    # Confirm with the previous step, so the current step stays free for the test itself.
    codes = totp_device_confirm(user=user, code=totp.at(timezone.now() - timedelta(seconds=30)))
    assert codes is not None
    user.refresh_from_db()
    return user, totp, codes


def _password_step(client, user, next_url=None):
    data = {"email": user.email, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    response = client.post(reverse("accounts:login"), data)
    assert response["Location"] == reverse("accounts:login_2fa")
    return response


def _wrong_code(totp) -> str:
    """A six-digit code that is valid in none of the accepted steps."""
    now = timezone.now()
    valid = {totp.at(now + timedelta(seconds=offset)) for offset in (-30, 0, 30)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in valid)


def _second_step(client, code):
    return client.post(reverse("accounts:login_2fa"), {"code": code})


def test_the_password_alone_does_not_sign_in_a_user_with_two_factor(client):
    user, _, _ = _enrolled_user()
    _password_step(client, user)
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("portal:dashboard")).status_code == 302
    page = client.get(reverse("accounts:login_2fa"))
    assert b"E-mail me a code" in page.content


def test_a_correct_totp_code_completes_the_sign_in_and_follows_next(client):
    user, totp, _ = _enrolled_user()
    _password_step(client, user, next_url="/accounts/settings/")
    response = _second_step(client, totp.now())
    assert response["Location"] == "/accounts/settings/"
    assert client.session["_auth_user_id"] == str(user.pk)
    assert PENDING_KEY not in client.session
    assert UserSession.objects.filter(user=user, session_key=client.session.session_key).exists()
    assert LoginAttempt.objects.get(succeeded=True).reason == "password+totp"


def test_a_wrong_code_is_shown_next_to_the_field_and_recorded(client):
    user, totp, _ = _enrolled_user()
    _password_step(client, user)
    response = _second_step(client, _wrong_code(totp))
    assert response.status_code == 400
    assert "not valid" in response.context["form"].errors["code"][0]
    assert b'id="id_code_error"' in response.content
    assert "_auth_user_id" not in client.session
    assert LoginAttempt.objects.filter(reason="bad_second_factor", user=user).exists()


def test_a_totp_code_is_never_accepted_twice_in_the_same_step(client):
    user, totp, _ = _enrolled_user()
    code = totp.now()
    _password_step(client, user)
    assert _second_step(client, code).status_code == 302
    client.post(reverse("accounts:logout"))
    _password_step(client, user)
    response = _second_step(client, code)
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


def test_an_older_step_than_the_last_used_one_is_refused(client):
    user, totp, _ = _enrolled_user()
    TOTPDevice.objects.filter(user=user).update(last_used_step=totp.timecode(timezone.now()) + 1)
    _password_step(client, user)
    assert _second_step(client, totp.now()).status_code == 400


def test_a_recovery_code_works_once(client):
    user, _, codes = _enrolled_user()
    _password_step(client, user)
    assert _second_step(client, codes[0].upper()).status_code == 302
    assert AuditLog.objects.filter(action="user.recovery_code_used", actor=user).exists()
    assert RecoveryCode.objects.filter(user=user, used_at__isnull=True).count() == 9
    client.post(reverse("accounts:logout"))
    _password_step(client, user)
    assert _second_step(client, codes[0]).status_code == 400
    assert "_auth_user_id" not in client.session


def test_an_emailed_code_signs_in(client, mailoutbox, django_capture_on_commit_callbacks):
    user, _, _ = _enrolled_user()
    _password_step(client, user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:login_email_code"))
    assert response["Location"] == reverse("accounts:login_2fa")
    code = re.search(r"\b(\d{6})\b", mailoutbox[0].body).group(1)
    assert code not in EmailCode.objects.get().code_hash
    assert _second_step(client, code).status_code == 302
    assert LoginAttempt.objects.get(succeeded=True).reason == "password+email_code"


def test_an_expired_emailed_code_is_refused(client, mailoutbox, django_capture_on_commit_callbacks):
    user, _, _ = _enrolled_user()
    _password_step(client, user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("accounts:login_email_code"))
    code = re.search(r"\b(\d{6})\b", mailoutbox[0].body).group(1)
    EmailCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _second_step(client, code).status_code == 400
    assert "_auth_user_id" not in client.session


def test_an_emailed_code_is_burnt_after_five_wrong_guesses(client, mailoutbox, django_capture_on_commit_callbacks):
    user, _, _ = _enrolled_user()
    _password_step(client, user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("accounts:login_email_code"))
    code = re.search(r"\b(\d{6})\b", mailoutbox[0].body).group(1)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        _second_step(client, wrong)
    assert _second_step(client, code).status_code == 400
    assert "_auth_user_id" not in client.session


def test_the_second_step_expires_after_ten_minutes(client):
    user, totp, _ = _enrolled_user()
    _password_step(client, user)
    session = client.session
    session[PENDING_KEY]["at"] -= 601
    session.save()
    response = _second_step(client, totp.now())
    assert response["Location"] == reverse("accounts:login")
    assert "_auth_user_id" not in client.session


def test_the_second_step_without_a_password_step_goes_back_to_login(client):
    assert client.get(reverse("accounts:login_2fa"))["Location"] == reverse("accounts:login")


def test_the_second_step_is_throttled(client):
    user, totp, _ = _enrolled_user()
    _password_step(client, user)
    for _ in range(10):
        _second_step(client, "000000")
    assert _second_step(client, totp.now()).status_code == 429


def test_enrolment_shows_a_local_qr_code_and_confirms_with_a_code_then_shows_codes_once(client):
    user = make_user("eve@example.com")
    client.force_login(user)
    page = client.get(reverse("accounts:totp_enrol"))
    assert page.status_code == 200
    assert b"<svg" in page.content
    assert b"http" not in page.content.split(b'class="qr"')[1].split(b"</div>")[0].replace(b"http://www.w3.org", b"")
    device = TOTPDevice.objects.get(user=user)
    secret = totp_secret(device=device)
    assert secret not in device.secret_encrypted
    assert device.confirmed_at is None
    # A reload keeps the secret the person may already have scanned.
    client.get(reverse("accounts:totp_enrol"))
    assert totp_secret(device=TOTPDevice.objects.get(user=user)) == secret

    wrong = client.post(reverse("accounts:totp_enrol"), {"code": "123"})
    assert wrong.context["form"].errors["code"]

    response = client.post(reverse("accounts:totp_enrol"), {"code": pyotp.TOTP(secret).now()})
    assert response["Location"] == reverse("accounts:recovery_codes")
    codes_page = client.get(reverse("accounts:recovery_codes"))
    assert len(codes_page.context["codes"]) == 10
    assert RecoveryCode.objects.filter(user=user).count() == 10
    assert AuditLog.objects.filter(action="user.2fa_enabled", actor=user).exists()
    # Shown once only.
    assert client.get(reverse("accounts:recovery_codes"))["Location"] == reverse("accounts:settings")


def test_a_member_of_an_organisation_requiring_two_factor_is_sent_to_enrol(client):
    user = make_user("eve@example.com")
    add_member(make_org("Strict", require_2fa=True), user)
    client.force_login(user)
    assert client.get(reverse("portal:dashboard"))["Location"] == reverse("accounts:totp_enrol")
    assert client.get(reverse("accounts:totp_enrol")).status_code == 200


def test_disabling_two_factor_needs_the_password(client, mailoutbox, django_capture_on_commit_callbacks):
    user, _, _ = _enrolled_user()
    client.force_login(user)
    wrong = client.post(reverse("accounts:totp_disable"), {"disable-password": "nope"})
    assert wrong.status_code == 200
    assert wrong.context["disable_form"].errors["password"]
    assert TOTPDevice.objects.filter(user=user).exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:totp_disable"), {"disable-password": PASSWORD})
    assert response["Location"] == reverse("accounts:settings")
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not RecoveryCode.objects.filter(user=user).exists()
    assert AuditLog.objects.filter(action="user.2fa_disabled", actor=user).exists()
    assert "turned off" in mailoutbox[0].subject


def test_two_factor_cannot_be_disabled_while_an_organisation_requires_it(client):
    user, _, _ = _enrolled_user()
    add_member(make_org("Strict", require_2fa=True), user)
    client.force_login(user)
    client.post(reverse("accounts:totp_disable"), {"disable-password": PASSWORD})
    assert TOTPDevice.objects.filter(user=user).exists()


def test_regenerating_recovery_codes_needs_the_password_and_replaces_the_old_ones(client):
    user, _, old_codes = _enrolled_user()
    client.force_login(user)
    wrong = client.post(reverse("accounts:recovery_codes"), {"codes-password": "nope"})
    assert wrong.context["codes_form"].errors["password"]
    response = client.post(reverse("accounts:recovery_codes"), {"codes-password": PASSWORD})
    assert response["Location"] == reverse("accounts:recovery_codes")
    new_codes = client.get(reverse("accounts:recovery_codes")).context["codes"]
    assert set(new_codes).isdisjoint(old_codes)
    assert AuditLog.objects.filter(action="user.recovery_codes_regenerated", actor=user).exists()
    client.logout()
    _password_step(client, user)
    assert _second_step(client, old_codes[1]).status_code == 400
    assert _second_step(client, new_codes[1]).status_code == 302


def test_recovery_codes_are_stored_hashed():
    user = make_user()
    codes = recovery_codes_generate(user=user)
    stored = set(RecoveryCode.objects.filter(user=user).values_list("code_hash", flat=True))
    assert len(stored) == 10
    assert not stored & set(codes)
