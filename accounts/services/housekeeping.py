"""Scheduled clean-up of records that have outlived their use."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts.models import (
    EmailCode,
    LoginAttempt,
    TOTPDevice,
    UserSession,
)

LOGIN_ATTEMPT_RETENTION = timedelta(days=90)
UNCONFIRMED_TOTP_RETENTION = timedelta(days=1)
EMAIL_CODE_RETENTION = timedelta(days=1)


def accounts_housekeeping(*, now=None) -> dict[str, int]:
    """Delete what has outlived its use; safe to run any number of times.

    Expired sessions leave the session table (Django's `clear_expired`) and their rows in
    the signed-in devices list; spent or expired e-mail codes, abandoned TOTP enrolments
    and login attempts past the retention go. The audit log is never touched.
    """
    now = now or timezone.now()
    engine = import_module(settings.SESSION_ENGINE)
    engine.SessionStore.clear_expired()
    live_keys = Session.objects.filter(expire_date__gt=now).values("session_key")
    removed = {
        "sessions": UserSession.objects.exclude(session_key__in=live_keys).delete()[0],
        "email_codes": EmailCode.objects.filter(expires_at__lt=now - EMAIL_CODE_RETENTION).delete()[0],
        "unconfirmed_totp": TOTPDevice.objects.filter(
            confirmed_at__isnull=True, created_at__lt=now - UNCONFIRMED_TOTP_RETENTION
        ).delete()[0],
        "login_attempts": LoginAttempt.objects.filter(created_at__lt=now - LOGIN_ATTEMPT_RETENTION).delete()[0],
    }
    return removed
