"""Users: sign-up, e-mail verification, sign-in, the second factor, sessions, passwords."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from datetime import timedelta
from importlib import import_module

import pyotp
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core import signing
from django.db import transaction
from django.db.models import F
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from accounts.models import (
    EmailCode,
    KnownDevice,
    LoginAttempt,
    Organization,
    RecoveryCode,
    TOTPDevice,
    User,
    UserSession,
)
from accounts.services.audit import SYSTEM, RequestMeta, audit_record
from accounts.services.organizations import organization_create
from portal.crypto import keyring
from portal.emails import absolute_url, send_templated_email

EMAIL_VERIFY_SALT = "accounts.verify-email"
PENDING_SECOND_FACTOR_MAX_AGE = 10 * 60
EMAIL_CODE_TTL = timedelta(minutes=10)
EMAIL_CODE_MAX_ATTEMPTS = 5
RECOVERY_CODE_COUNT = 10
TOTP_ISSUER = "Developer Portal"
# Invitation links are the only place a fresh account may be sent after verifying.
INVITATION_PATH_PREFIX = "/accounts/invitations/"


class EmailVerificationError(Exception):
    """The verification link is expired, tampered with or for a changed address."""

    def __init__(self, message: str, *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


def describe_user_agent(user_agent: str) -> str:
    """A short human label ("Firefox on Linux") for lists and e-mails; never used for decisions."""
    ua = user_agent or ""
    if "Edg/" in ua:
        browser = "Edge"
    elif "OPR/" in ua or "Opera" in ua:
        browser = "Opera"
    elif "Firefox/" in ua:
        browser = "Firefox"
    elif "Chrome/" in ua or "Chromium/" in ua or "HeadlessChrome" in ua:
        browser = "Chrome"
    elif "Safari/" in ua:
        browser = "Safari"
    elif ua:
        browser = ua.split("/")[0][:40] or "Unknown browser"
    else:
        return "Unknown browser"
    for marker, system in (
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ):
        if marker in ua:
            return f"{browser} on {system}"
    return browser


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _network_of(ip: str | None) -> str:
    # A /24 (IPv4) or /48 (IPv6) so a phone hopping between addresses of the same
    # provider is not a "new device" every morning.
    if not ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def device_fingerprint(*, user_agent: str, ip: str | None) -> str:
    return _sha256(f"{user_agent}|{_network_of(ip)}")


def email_verification_token(*, user: User, next_url: str = "") -> str:
    """A signed, timestamped token naming the user and the address being verified.

    The address is inside, so a link sent before an address change stops working. A
    `next` is carried only for invitation links, so the token cannot become a redirect.
    """
    payload = {"u": user.public_id, "e": user.email}
    if next_url.startswith(INVITATION_PATH_PREFIX):
        payload["n"] = next_url
    return signing.dumps(payload, salt=EMAIL_VERIFY_SALT, compress=True)


def user_verification_email_send(*, user: User, next_url: str = "") -> None:
    token = email_verification_token(user=user, next_url=next_url)
    send_templated_email(
        to=user.email,
        template="verify_email",
        context={
            "user": user,
            "verify_url": absolute_url(reverse("accounts:verify_email", args=[token])),
            "max_age_hours": settings.EMAIL_VERIFICATION_MAX_AGE // 3600,
        },
    )


@transaction.atomic
def user_signup(
    *,
    email: str,
    password: str,
    full_name: str,
    organization_name: str = "",
    organization_kind: str = Organization.Kind.DEVELOPER,
    next_url: str = "",
    meta: RequestMeta = SYSTEM,
) -> User:
    """Create the account (and its first organisation unless joining by invitation)."""
    user = User.objects.create_user(email=email, password=password, full_name=full_name.strip())
    audit_record(action="user.signed_up", actor=user, organization=None, meta=meta, target=user)
    if organization_name:
        organization_create(name=organization_name, owner=user, kind=organization_kind, meta=meta)
    user_verification_email_send(user=user, next_url=next_url)
    return user


@transaction.atomic
def user_email_verify(*, token: str, meta: RequestMeta = SYSTEM) -> tuple[User, str]:
    """Mark the address in `token` verified; returns the user and the invitation path to continue to."""
    try:
        payload = signing.loads(token, salt=EMAIL_VERIFY_SALT, max_age=settings.EMAIL_VERIFICATION_MAX_AGE)
    except signing.SignatureExpired:
        raise EmailVerificationError("This verification link has expired.", expired=True)
    except signing.BadSignature:
        raise EmailVerificationError("This verification link is not valid.")
    user = User.objects.select_for_update().filter(public_id=payload.get("u"), is_active=True).first()
    if user is None or user.email.lower() != str(payload.get("e", "")).lower():
        raise EmailVerificationError("This verification link is not valid for your current address.")
    if user.email_verified_at is None:
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
        audit_record(action="user.email_verified", actor=user, organization=None, meta=meta, target=user)
    return user, payload.get("n", "")


def user_profile_update(*, user: User, full_name: str, meta: RequestMeta = SYSTEM) -> User:
    full_name = full_name.strip()
    if full_name != user.full_name:
        old = user.full_name
        user.full_name = full_name
        user.save(update_fields=["full_name"])
        audit_record(
            action="user.profile_updated",
            actor=user,
            organization=None,
            meta=meta,
            target=user,
            details={"full_name": {"from": old, "to": full_name}},
        )
    return user


def login_attempt_record(
    *, email: str, user: User | None, succeeded: bool, reason: str = "", meta: RequestMeta = SYSTEM
) -> LoginAttempt:
    attempt = LoginAttempt.objects.create(
        email=email.strip().lower()[:254],
        user=user,
        ip=meta.ip,
        user_agent=meta.user_agent,
        succeeded=succeeded,
        reason=reason,
    )
    if not succeeded:
        audit_record(
            action="user.login_failed",
            actor=user,
            organization=None,
            meta=meta,
            target=user,
            details={"email": attempt.email, "reason": reason},
        )
    return attempt


def known_device_touch(*, user: User, meta: RequestMeta = SYSTEM) -> tuple[KnownDevice, bool]:
    """Remember this browser and network; e-mail the user when it is new (but not the very first)."""
    fingerprint = device_fingerprint(user_agent=meta.user_agent, ip=meta.ip)
    now = timezone.now()
    had_devices = KnownDevice.objects.filter(user=user).exists()
    device, created = KnownDevice.objects.get_or_create(
        user=user,
        fingerprint=fingerprint,
        defaults={"user_agent": meta.user_agent, "ip": meta.ip, "first_seen_at": now, "last_seen_at": now},
    )
    if not created:
        KnownDevice.objects.filter(pk=device.pk).update(last_seen_at=now, ip=meta.ip)
    elif had_devices:
        send_templated_email(
            to=user.email,
            template="new_device",
            context={
                "user": user,
                "when": now,
                "browser": describe_user_agent(meta.user_agent),
                "ip": meta.ip or "unknown",
                "settings_url": absolute_url(reverse("accounts:settings")),
                "reset_url": absolute_url(reverse("accounts:password_reset")),
            },
        )
    return device, created


@transaction.atomic
def user_login_record(*, user: User, session_key: str, method: str, meta: RequestMeta = SYSTEM) -> UserSession:
    """Book-keeping after `login()` rotated the session key: attempt, device, session row, audit."""
    login_attempt_record(email=user.email, user=user, succeeded=True, reason=method, meta=meta)
    known_device_touch(user=user, meta=meta)
    session, _ = UserSession.objects.update_or_create(
        session_key=session_key,
        defaults={"user": user, "ip": meta.ip, "user_agent": meta.user_agent, "last_seen_at": timezone.now()},
    )
    audit_record(
        action="user.login_succeeded",
        actor=user,
        organization=None,
        meta=meta,
        target=user,
        details={"method": method},
    )
    return session


def user_logout_record(*, user: User, session_key: str | None, meta: RequestMeta = SYSTEM) -> None:
    if session_key:
        UserSession.objects.filter(user=user, session_key=session_key).delete()
    audit_record(action="user.logged_out", actor=user, organization=None, meta=meta, target=user)


def _session_store_delete(session_key: str) -> None:
    engine = import_module(settings.SESSION_ENGINE)
    engine.SessionStore(session_key).delete()


def user_session_list(*, user: User) -> list[UserSession]:
    """The user's live sessions, newest first; rows whose session expired or vanished are pruned."""
    rows = list(UserSession.objects.filter(user=user).order_by("-last_seen_at"))
    if not rows:
        return rows
    live = set(
        Session.objects.filter(
            session_key__in=[r.session_key for r in rows], expire_date__gt=timezone.now()
        ).values_list("session_key", flat=True)
    )
    stale = [r.pk for r in rows if r.session_key not in live]
    if stale:
        UserSession.objects.filter(pk__in=stale).delete()
    return [r for r in rows if r.session_key in live]


def user_session_touch(*, user: User, session_key: str, meta: RequestMeta = SYSTEM) -> None:
    UserSession.objects.filter(user=user, session_key=session_key).update(
        last_seen_at=timezone.now(), ip=meta.ip, user_agent=meta.user_agent
    )


def user_session_rekey(*, user: User, old_key: str | None, new_key: str) -> None:
    """Follow the session row when Django cycles the key (password change keeps the session)."""
    if old_key and old_key != new_key:
        UserSession.objects.filter(user=user, session_key=old_key).update(session_key=new_key)


def user_session_end(*, user: User, public_id: str, meta: RequestMeta = SYSTEM) -> UserSession:
    """Sign out one of the user's own sessions; another user's id is a 404."""
    try:
        session = UserSession.objects.get(user=user, public_id=public_id)
    except UserSession.DoesNotExist:
        raise Http404("No such session.") from None
    _session_store_delete(session.session_key)
    session.delete()
    audit_record(
        action="user.session_ended",
        actor=user,
        organization=None,
        meta=meta,
        target=user,
        details={"session": public_id, "ip": session.ip, "browser": describe_user_agent(session.user_agent)},
    )
    return session


def user_sessions_end_all(*, user: User, except_session_key: str | None = None) -> int:
    rows = UserSession.objects.filter(user=user)
    if except_session_key:
        rows = rows.exclude(session_key=except_session_key)
    keys = list(rows.values_list("session_key", flat=True))
    for key in keys:
        _session_store_delete(key)
    rows.delete()
    return len(keys)


def _password_changed_email(*, user: User, meta: RequestMeta) -> None:
    send_templated_email(
        to=user.email,
        template="password_changed",
        context={
            "user": user,
            "when": timezone.now(),
            "browser": describe_user_agent(meta.user_agent),
            "ip": meta.ip or "unknown",
            "reset_url": absolute_url(reverse("accounts:password_reset")),
        },
    )


@transaction.atomic
def user_password_change(
    *, user: User, new_password: str, current_session_key: str | None, meta: RequestMeta = SYSTEM
) -> int:
    """Set a new password and sign out every other session; returns how many were ended."""
    user.set_password(new_password)
    user.save(update_fields=["password"])
    ended = user_sessions_end_all(user=user, except_session_key=current_session_key)
    audit_record(
        action="user.password_changed", actor=user, organization=None, meta=meta, target=user, details={"ended": ended}
    )
    _password_changed_email(user=user, meta=meta)
    return ended


@transaction.atomic
def user_password_reset(*, user: User, new_password: str, meta: RequestMeta = SYSTEM) -> None:
    """Set a password from a reset link: every session ends, and the link proved the address."""
    user.set_password(new_password)
    fields = ["password"]
    if user.email_verified_at is None:
        user.email_verified_at = timezone.now()
        fields.append("email_verified_at")
    user.save(update_fields=fields)
    ended = user_sessions_end_all(user=user)
    audit_record(
        action="user.password_reset", actor=user, organization=None, meta=meta, target=user, details={"ended": ended}
    )
    _password_changed_email(user=user, meta=meta)


# --- Second factor: TOTP (RFC 6238), recovery codes, e-mailed codes ---------------------


def _totp_associated_data(user: User) -> bytes:
    # Binds the ciphertext to its owner: a secret copied onto another row fails to decrypt.
    return f"totp:{user.public_id}".encode()


def totp_secret(*, device: TOTPDevice) -> str:
    return keyring().decrypt(device.secret_encrypted, associated_data=_totp_associated_data(device.user))


def totp_provisioning_uri(*, device: TOTPDevice) -> str:
    issuer = settings.PORTAL_NAME or TOTP_ISSUER
    return pyotp.TOTP(totp_secret(device=device)).provisioning_uri(name=device.user.email, issuer_name=issuer)


def totp_device_start(*, user: User) -> TOTPDevice:
    """An unconfirmed device with a fresh secret; an earlier unconfirmed one is reused, so a
    reload does not invalidate the QR code the person already scanned."""
    device = TOTPDevice.objects.filter(user=user).first()
    if device is not None and device.confirmed_at is not None:
        raise ValueError("Two-factor authentication is already enabled.")
    if device is None:
        secret = pyotp.random_base32()
        device = TOTPDevice.objects.create(
            user=user,
            secret_encrypted=keyring().encrypt(secret, associated_data=_totp_associated_data(user)),
        )
    return device


def _totp_accept(*, device: TOTPDevice, code: str) -> bool:
    """Accept a code from the current, previous or next 30-second step, each step at most once.

    The step is claimed with a conditional UPDATE, so two requests racing with the same
    code cannot both win (RFC 6238, section 5.2).
    """
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return False
    totp = pyotp.TOTP(totp_secret(device=device))
    now_step = totp.timecode(timezone.now())
    for step in (now_step - 1, now_step, now_step + 1):
        if step <= device.last_used_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            claimed = TOTPDevice.objects.filter(pk=device.pk, last_used_step__lt=step).update(last_used_step=step)
            if claimed:
                device.last_used_step = step
            return bool(claimed)
    return False


def _recovery_code_new() -> str:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (0/o, 1/l/i)
    raw = "".join(secrets.choice(alphabet) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _recovery_code_hash(code: str) -> str:
    return _sha256("".join(ch for ch in code.lower() if ch.isalnum()))


def recovery_codes_generate(*, user: User, meta: RequestMeta = SYSTEM, audit: bool = True) -> list[str]:
    """Replace the user's recovery codes; the plain codes are returned once and never stored."""
    codes = [_recovery_code_new() for _ in range(RECOVERY_CODE_COUNT)]
    with transaction.atomic():
        RecoveryCode.objects.filter(user=user).delete()
        RecoveryCode.objects.bulk_create(RecoveryCode(user=user, code_hash=_recovery_code_hash(c)) for c in codes)
        if audit:
            audit_record(
                action="user.recovery_codes_regenerated", actor=user, organization=None, meta=meta, target=user
            )
    return codes


@transaction.atomic
def totp_device_confirm(*, user: User, code: str, meta: RequestMeta = SYSTEM) -> list[str] | None:
    """Confirm enrolment with a first code; returns fresh recovery codes, or None if the code is wrong."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed_at__isnull=True).first()
    if device is None or not _totp_accept(device=device, code=code):
        return None
    device.confirmed_at = timezone.now()
    device.save(update_fields=["confirmed_at"])
    codes = recovery_codes_generate(user=user, meta=meta, audit=False)
    audit_record(action="user.2fa_enabled", actor=user, organization=None, meta=meta, target=user)
    return codes


@transaction.atomic
def totp_device_disable(*, user: User, meta: RequestMeta = SYSTEM) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()
    EmailCode.objects.filter(user=user, used_at__isnull=True).update(used_at=timezone.now())
    audit_record(action="user.2fa_disabled", actor=user, organization=None, meta=meta, target=user)
    send_templated_email(
        to=user.email,
        template="two_factor_disabled",
        context={"user": user, "when": timezone.now(), "ip": meta.ip or "unknown"},
    )


def recovery_code_use(*, user: User, code: str, meta: RequestMeta = SYSTEM) -> bool:
    code_hash = _recovery_code_hash(code)
    row = RecoveryCode.objects.filter(user=user, code_hash=code_hash, used_at__isnull=True).first()
    # The conditional UPDATE makes a code single-use even under concurrent submissions.
    if row is None or not RecoveryCode.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=timezone.now()):
        return False
    remaining = RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
    audit_record(
        action="user.recovery_code_used",
        actor=user,
        organization=None,
        meta=meta,
        target=user,
        details={"remaining": remaining},
    )
    return True


def _email_code_hash(*, user: User, code: str) -> str:
    # Keyed: a six-digit code hashed plainly would fall to a table of a million hashes.
    return hmac.new(settings.SECRET_KEY.encode(), f"email-code:{user.pk}:{code}".encode(), "sha256").hexdigest()


@transaction.atomic
def email_code_send(*, user: User, meta: RequestMeta = SYSTEM) -> EmailCode:
    """A new six-digit sign-in code by e-mail; earlier unused codes stop working."""
    now = timezone.now()
    EmailCode.objects.filter(user=user, used_at__isnull=True, expires_at__gt=now).update(expires_at=now)
    code = f"{secrets.randbelow(10**6):06d}"
    row = EmailCode.objects.create(
        user=user, code_hash=_email_code_hash(user=user, code=code), created_at=now, expires_at=now + EMAIL_CODE_TTL
    )
    send_templated_email(
        to=user.email,
        template="email_code",
        context={
            "user": user,
            "code": code,
            "minutes": int(EMAIL_CODE_TTL.total_seconds() // 60),
            "ip": meta.ip or "unknown",
            "browser": describe_user_agent(meta.user_agent),
        },
    )
    return row


def email_code_verify(*, user: User, code: str) -> bool:
    """Check against the latest live code; each guess counts, and the fifth wrong one burns it."""
    code = "".join(code.split())
    now = timezone.now()
    row = (
        EmailCode.objects.filter(user=user, used_at__isnull=True, expires_at__gt=now)
        .order_by("-created_at", "-id")
        .first()
    )
    if row is None or row.attempts >= EMAIL_CODE_MAX_ATTEMPTS:
        return False
    counted = EmailCode.objects.filter(pk=row.pk, attempts__lt=EMAIL_CODE_MAX_ATTEMPTS).update(
        attempts=F("attempts") + 1
    )
    if not counted or not hmac.compare_digest(row.code_hash, _email_code_hash(user=user, code=code)):
        return False
    return bool(EmailCode.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=now))


def second_factor_verify(*, user: User, code: str, meta: RequestMeta = SYSTEM) -> str | None:
    """Try the code as a TOTP code, an e-mailed code, then a recovery code; returns the method or None."""
    code = code.strip()
    compact = "".join(code.split())
    if compact.isdigit() and len(compact) == 6:
        with transaction.atomic():
            device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed_at__isnull=False).first()
            if device is not None and _totp_accept(device=device, code=compact):
                return "totp"
        if email_code_verify(user=user, code=compact):
            return "email_code"
        return None
    if recovery_code_use(user=user, code=code, meta=meta):
        return "recovery_code"
    return None
