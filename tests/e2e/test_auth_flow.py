"""The account journey in a real browser: sign up, confirm the address from the mail
folder, turn on two-factor authentication and sign in again through the second step."""

import re
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from django.utils import timezone

from tests.e2e.conftest import NO_OVERFLOW, shot, sign_in
from tests.factories import PASSWORD, make_user


@pytest.fixture
def mail_dir(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    return tmp_path


def _mail_text(folder: Path) -> str:
    return "".join(path.read_text() for path in sorted(folder.glob("*.log")))


def _verification_path(folder: Path) -> str:
    match = re.search(r"/accounts/verify-email/[^\s\"<>/]+/", _mail_text(folder).replace("=\n", ""))
    assert match, "no verification link in the mail folder"
    return match.group(0)


def _next_step_code(secret: str) -> str:
    # The next 30-second step: always newer than the step used a moment ago, and accepted.
    return pyotp.TOTP(secret).at(timezone.now() + timedelta(seconds=30))


def _enrol(page) -> str:
    secret = page.locator("#totp-secret").get_attribute("data-secret")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("form button[type=submit]:has-text('Turn on')")
    page.wait_for_url("**/settings/2fa/recovery-codes/")
    return secret


def test_sign_up_verify_enrol_two_factor_and_sign_in_again(page, mail_dir, live_server):
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(live_server.url) else None)

    page.goto("/accounts/signup/")
    assert page.get_by_role("heading", name="Create your account").is_visible()
    shot(page, "signup")
    page.fill("input[name=full_name]", "Erin Example")
    page.fill("input[name=email]", "erin@example.com")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.fill("input[name=organization_name]", "Erin Labs")
    page.check("input[name=organization_kind][value=partner]")
    page.click("form button[type=submit]:has-text('Create account')")
    page.wait_for_url("**/accounts/verify-email/")
    assert page.get_by_role("heading", name="Check your inbox").is_visible()
    assert page.get_by_text("erin@example.com").first.is_visible()
    shot(page, "verify-email-sent")

    page.goto(_verification_path(mail_dir))
    page.wait_for_url("**/dashboard/")
    assert page.get_by_text("your e-mail address is confirmed").is_visible()

    page.goto("/accounts/settings/")
    assert page.get_by_text("This device").is_visible()
    shot(page, "account-settings")
    page.click("text=Turn on two-factor authentication")
    page.wait_for_url("**/settings/2fa/")
    assert page.locator(".qr svg").is_visible()
    shot(page, "totp-enrol")
    secret = _enrol(page)
    assert page.locator("#recovery-codes li").count() == 10
    shot(page, "recovery-codes")

    page.click("header button:has-text('Log out')")
    page.wait_for_url(f"{live_server.url}/")
    page.goto("/accounts/login/")
    shot(page, "login")
    sign_in(page, "erin@example.com", PASSWORD)
    page.wait_for_url("**/login/2fa/")
    assert page.get_by_role("button", name="E-mail me a code").is_visible()
    page.fill("input[name=code]", "000000" if _next_step_code(secret) != "000000" else "111111")
    page.click("form button[type=submit]:has-text('Verify')")
    assert page.locator("#id_code_error").is_visible()
    shot(page, "login-2fa")
    page.fill("input[name=code]", _next_step_code(secret))
    page.click("form button[type=submit]:has-text('Verify')")
    page.wait_for_url("**/dashboard/")
    assert page.get_by_role("link", name="Erin").is_visible()

    page.goto("/accounts/settings/")
    assert page.get_by_text("On", exact=True).is_visible()
    page.click("header button:has-text('Log out')")
    page.goto("/accounts/password-reset/")
    shot(page, "password-reset")
    page.fill("input[name=email]", "erin@example.com")
    page.click("form button[type=submit]")
    page.wait_for_url("**/password-reset/sent/")
    assert "/accounts/password-reset/" in _mail_text(mail_dir)
    assert outside == []


def test_every_account_page_fits_a_phone(new_page, mail_dir):
    phone = new_page(phone=True)
    for path, name, heading in [
        ("/accounts/signup/", "signup", "Create your account"),
        ("/accounts/login/", "login", "Log in"),
        ("/accounts/password-reset/", "password-reset", "Reset your password"),
    ]:
        phone.goto(path)
        assert phone.get_by_role("heading", name=heading).is_visible()
        assert phone.evaluate(NO_OVERFLOW), path
        shot(phone, name)

    make_user("pat@example.com", full_name="Pat Phone", verified=False)
    sign_in(phone, "pat@example.com", PASSWORD)
    phone.wait_for_url("**/accounts/verify-email/")
    assert phone.get_by_role("heading", name="Check your inbox").is_visible()
    assert phone.evaluate(NO_OVERFLOW)
    shot(phone, "verify-email-sent")

    phone.goto("/accounts/settings/")
    assert phone.get_by_role("heading", name="Signed-in devices").is_visible()
    assert phone.evaluate(NO_OVERFLOW)
    shot(phone, "account-settings")

    phone.goto("/accounts/settings/2fa/")
    assert phone.locator(".qr svg").is_visible()
    assert phone.evaluate(NO_OVERFLOW)
    shot(phone, "totp-enrol")
    secret = _enrol(phone)
    assert phone.locator("#recovery-codes li").first.is_visible()
    assert phone.evaluate(NO_OVERFLOW)
    shot(phone, "recovery-codes")

    # The menu folds away on a phone; log out through the same form the header uses.
    phone.locator("header form[action='/accounts/logout/'] button").click()
    sign_in(phone, "pat@example.com", PASSWORD)
    phone.wait_for_url("**/login/2fa/")
    assert phone.get_by_role("heading", name="Two-factor authentication").is_visible()
    assert phone.evaluate(NO_OVERFLOW)
    shot(phone, "login-2fa")
    phone.fill("input[name=code]", _next_step_code(secret))
    phone.click("form button[type=submit]:has-text('Verify')")
    phone.wait_for_url("**/accounts/verify-email/")
