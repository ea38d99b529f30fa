from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone

from accounts.models import AuditLog, EmailCode, LoginAttempt, TOTPDevice, UserSession
from accounts.services import accounts_housekeeping, audit_record
from accounts.tasks import housekeeping

pytestmark = pytest.mark.django_db


def test_housekeeping_removes_only_what_has_outlived_its_use(world):
    now = timezone.now()
    live = SessionStore()
    live.create()
    UserSession.objects.create(user=world.owner, session_key=live.session_key)
    UserSession.objects.create(user=world.owner, session_key="gone-from-the-session-store")
    EmailCode.objects.create(user=world.owner, code_hash="x", expires_at=now - timedelta(days=2))
    fresh_code = EmailCode.objects.create(user=world.owner, code_hash="y", expires_at=now + timedelta(minutes=5))
    TOTPDevice.objects.create(user=world.owner, secret_encrypted="x", created_at=now - timedelta(days=2))
    TOTPDevice.objects.create(user=world.teammate, secret_encrypted="x", confirmed_at=now - timedelta(days=30))
    old = LoginAttempt.objects.create(email="a@b.test", created_at=now - timedelta(days=91))
    recent = LoginAttempt.objects.create(email="a@b.test", created_at=now - timedelta(days=1))
    audit_record(action="test.kept", actor=world.owner, organization=world.org)

    removed = accounts_housekeeping(now=now)

    assert removed == {"sessions": 1, "email_codes": 1, "unconfirmed_totp": 1, "login_attempts": 1}
    assert list(UserSession.objects.values_list("session_key", flat=True)) == [live.session_key]
    assert list(EmailCode.objects.all()) == [fresh_code]
    assert list(TOTPDevice.objects.values_list("user", flat=True)) == [world.teammate.pk]
    assert not LoginAttempt.objects.filter(pk=old.pk).exists()
    assert LoginAttempt.objects.filter(pk=recent.pk).exists()
    assert AuditLog.objects.filter(action="test.kept").exists()


def test_housekeeping_twice_changes_nothing_more(world):
    LoginAttempt.objects.create(email="a@b.test", created_at=timezone.now() - timedelta(days=200))
    assert housekeeping.delay().get()["login_attempts"] == 1
    assert housekeeping.delay().get() == {"sessions": 0, "email_codes": 0, "unconfirmed_totp": 0, "login_attempts": 0}
