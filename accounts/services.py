"""Writes and side effects for users, organisations, memberships and the audit log."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module
from typing import Any

import pyotp
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import (
    AuditLog,
    EmailCode,
    Invitation,
    KnownDevice,
    LoginAttempt,
    Membership,
    Organization,
    PartnerProfile,
    Plan,
    RecoveryCode,
    Role,
    RoleName,
    TOTPDevice,
    User,
    UserSession,
)
from accounts.permissions import BUILTIN_ROLE_PERMISSIONS, validate_codes
from portal.crypto import keyring
from portal.emails import absolute_url, send_templated_email
from portal.lib.ids import random_base62


@dataclass(frozen=True)
class RequestMeta:
    """Who is acting and from where; built once per request, passed to services."""

    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request) -> RequestMeta:
        return cls(ip=client_ip(request), user_agent=request.headers.get("User-Agent", "")[:400])


SYSTEM = RequestMeta()


def client_ip(request) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is trusted only behind a proxy that sets it,
    # which deployments configure at the proxy (docs/decisions.md).
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    action: str,
    actor: User | None,
    organization: Organization | None,
    meta: RequestMeta = SYSTEM,
    target: Any = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    target_type = target._meta.model_name if target is not None else ""
    target_id = str(getattr(target, "public_id", None) or getattr(target, "pk", "")) if target is not None else ""
    return AuditLog.objects.create(
        organization=organization,
        actor=actor if actor is not None and actor.pk else None,
        actor_email=actor.email if actor is not None else "",
        action=action,
        target_type=target_type,
        target_id=target_id,
        ip=meta.ip,
        user_agent=meta.user_agent,
        details=details or {},
    )


# ==== Users: sign-up, e-mail verification, sign-in, second factor, sessions ====

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


# ==== Organisations: members, invitations, roles, policies, partner verification ====


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug = base
    while Organization.objects.filter(slug=slug).exists():
        slug = f"{base}-{random_base62(4).lower()}"
    return slug


@transaction.atomic
def organization_create(
    *, name: str, owner: User, kind: str = Organization.Kind.DEVELOPER, meta: RequestMeta = SYSTEM
) -> Organization:
    """A new organisation on the default plan, with `owner` as its first owner."""
    organization = Organization.objects.create(
        name=name.strip(), slug=_unique_slug(name), kind=kind, plan=Plan.objects.get_default()
    )
    Membership.objects.create(user=owner, organization=organization, role=RoleName.OWNER)
    if kind == Organization.Kind.PARTNER:
        PartnerProfile.objects.create(organization=organization)
    audit_record(
        action="organization.created",
        actor=owner,
        organization=organization,
        meta=meta,
        target=organization,
        details={"kind": kind},
    )
    return organization


def organization_update(
    *, organization: Organization, actor: User, name: str, website: str, meta: RequestMeta = SYSTEM
) -> Organization:
    changes = {
        field: {"from": getattr(organization, field), "to": value}
        for field, value in (("name", name.strip()), ("website", website.strip()))
        if getattr(organization, field) != value
    }
    if not changes:
        return organization
    for field, change in changes.items():
        setattr(organization, field, change["to"])
    organization.save(update_fields=list(changes))
    audit_record(
        action="organization.updated",
        actor=actor,
        organization=organization,
        meta=meta,
        target=organization,
        details={"changes": changes},
    )
    return organization


def organization_security_update(
    *, organization: Organization, actor: User, require_2fa: bool, meta: RequestMeta = SYSTEM
) -> Organization:
    """Turn the organisation's 2FA requirement on or off.

    The person switching it on must already use a second factor: otherwise the policy
    would lock them out of the very page they are on.
    """
    if require_2fa == organization.require_2fa:
        return organization
    if require_2fa and not actor.has_totp:
        raise ValidationError("Set up two-factor authentication on your own account before requiring it of everyone.")
    organization.require_2fa = require_2fa
    organization.save(update_fields=["require_2fa"])
    audit_record(
        action="organization.2fa_required" if require_2fa else "organization.2fa_optional",
        actor=actor,
        organization=organization,
        meta=meta,
        target=organization,
    )
    return organization


# -- Roles of members ---------------------------------------------------------------
#
# One rule keeps the hierarchy honest without a ranking of roles: nobody can hand out,
# take away or edit a set of permissions that is not wholly inside their own. Owners hold
# everything, so they can do anything; an admin (no billing:manage, no org:delete) can
# never make an owner, touch an owner, or build a custom role richer than admin.


def role_permissions(*, role: str, custom_role: Role | None) -> frozenset[str]:
    if role == RoleName.CUSTOM:
        return frozenset(custom_role.permissions) if custom_role is not None else frozenset()
    return BUILTIN_ROLE_PERMISSIONS[role]


def _check_role_choice(*, organization: Organization, role: str, custom_role: Role | None) -> None:
    if role not in RoleName.values:
        raise ValidationError("Unknown role.")
    if (role == RoleName.CUSTOM) != (custom_role is not None):
        raise ValidationError("A custom role needs one of the organisation's roles.")
    if custom_role is not None and custom_role.organization_id != organization.id:
        raise ValidationError("Unknown role.")


def _require_within(actor: Membership, permissions: frozenset[str], message: str) -> None:
    if not permissions <= actor.permissions:
        raise ValidationError(message)


def _owner_ids_locked(organization: Organization) -> list[int]:
    # Locks the owner rows (PostgreSQL) so two concurrent demotions cannot both see
    # "another owner is left" and leave the organisation without one.
    return list(
        Membership.objects.select_for_update()
        .filter(organization=organization, role=RoleName.OWNER)
        .values_list("id", flat=True)
    )


def _refuse_last_owner(membership: Membership, message: str) -> None:
    if membership.is_owner and _owner_ids_locked(membership.organization) == [membership.id]:
        raise ValidationError(message)


def _check_can_manage(actor: Membership, target: Membership) -> None:
    if not actor.has_perm("members:manage"):
        raise PermissionDenied("Your role does not include “members:manage”.")
    if target.organization_id != actor.organization_id:
        raise PermissionDenied("That member belongs to another organisation.")
    if target.is_owner and not actor.is_owner:
        raise ValidationError("Only an owner can change or remove another owner.")
    _require_within(actor, target.permissions, "This member holds permissions that your own role does not include.")


@transaction.atomic
def member_role_change(
    *, membership: Membership, actor: Membership, role: str, custom_role: Role | None = None, meta: RequestMeta = SYSTEM
) -> Membership:
    """Give `membership` a new role on behalf of `actor` (the acting membership)."""
    organization = membership.organization
    _check_can_manage(actor, membership)
    _check_role_choice(organization=organization, role=role, custom_role=custom_role)
    if role == RoleName.OWNER and not actor.is_owner:
        raise ValidationError("Only an owner can make someone an owner.")
    _require_within(
        actor,
        role_permissions(role=role, custom_role=custom_role),
        "You can't grant a role with permissions that your own role does not include.",
    )
    if membership.role == role and membership.custom_role_id == (custom_role.id if custom_role else None):
        return membership
    if role != RoleName.OWNER:
        _refuse_last_owner(membership, "The organisation's last owner can't be demoted. Make someone else owner first.")
    previous = membership.role_label
    membership.role = role
    membership.custom_role = custom_role
    membership.save(update_fields=["role", "custom_role"])
    audit_record(
        action="member.role_changed",
        actor=actor.user,
        organization=organization,
        meta=meta,
        target=membership,
        details={"member": membership.user.email, "from": previous, "to": membership.role_label},
    )
    send_templated_email(
        to=membership.user.email,
        template="role_changed",
        context={
            "organization": organization.name,
            "role": membership.role_label,
            "previous_role": previous,
            "actor": actor.user.get_full_name(),
            "members_url": absolute_url(reverse("portal:dashboard")),
        },
    )
    return membership


@transaction.atomic
def member_remove(*, membership: Membership, actor: Membership, meta: RequestMeta = SYSTEM) -> None:
    if membership.id == actor.id:
        raise ValidationError("Use “Leave organisation” to remove yourself.")
    _check_can_manage(actor, membership)
    _refuse_last_owner(membership, "The organisation's last owner can't be removed.")
    organization, user = membership.organization, membership.user
    audit_record(
        action="member.removed",
        actor=actor.user,
        organization=organization,
        meta=meta,
        target=membership,
        details={"member": user.email, "role": membership.role_label},
    )
    membership.delete()
    send_templated_email(
        to=user.email,
        template="removed_from_org",
        context={"organization": organization.name, "actor": actor.user.get_full_name()},
    )


@transaction.atomic
def member_leave(*, membership: Membership, meta: RequestMeta = SYSTEM) -> None:
    _refuse_last_owner(
        membership, "You are the organisation's last owner. Transfer ownership to another member before leaving."
    )
    audit_record(
        action="member.left",
        actor=membership.user,
        organization=membership.organization,
        meta=meta,
        target=membership,
        details={"member": membership.user.email, "role": membership.role_label},
    )
    membership.delete()


@transaction.atomic
def ownership_transfer(
    *, actor: Membership, new_owner: Membership, password: str, meta: RequestMeta = SYSTEM
) -> Membership:
    """Make `new_owner` an owner and step `actor` down to admin.

    The password is checked here, not only in the form, because handing over an
    organisation must never happen on a stolen session alone.
    """
    if not actor.is_owner:
        raise PermissionDenied("Only an owner can transfer ownership.")
    if new_owner.organization_id != actor.organization_id:
        raise PermissionDenied("That member belongs to another organisation.")
    if new_owner.id == actor.id:
        raise ValidationError("Choose another member.")
    if not actor.user.check_password(password):
        raise ValidationError("The password is not correct.")
    organization = actor.organization
    _owner_ids_locked(organization)
    previous = new_owner.role_label
    new_owner.role, new_owner.custom_role = RoleName.OWNER, None
    new_owner.save(update_fields=["role", "custom_role"])
    actor.role, actor.custom_role = RoleName.ADMIN, None
    actor.save(update_fields=["role", "custom_role"])
    audit_record(
        action="organization.ownership_transferred",
        actor=actor.user,
        organization=organization,
        meta=meta,
        target=new_owner,
        details={"from": actor.user.email, "to": new_owner.user.email, "previous_role": previous},
    )
    send_templated_email(
        to=[new_owner.user.email, actor.user.email],
        template="ownership_transferred",
        context={
            "organization": organization.name,
            "new_owner": new_owner.user.get_full_name(),
            "old_owner": actor.user.get_full_name(),
            "settings_url": absolute_url(reverse("accounts:organization_settings")),
        },
    )
    return new_owner


# -- Invitations ---------------------------------------------------------------------


def invitation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def invitation_create(
    *, actor: Membership, email: str, role: str, custom_role: Role | None = None, meta: RequestMeta = SYSTEM
) -> tuple[Invitation, str]:
    """Invite `email` into the actor's organisation; returns the invitation and raw token.

    The raw token exists only in the e-mailed link; the database keeps its SHA-256, so
    a leaked database cannot be turned into working invitation links. Inviting an
    address with a pending invitation replaces that invitation.
    """
    organization = actor.organization
    if not actor.has_perm("members:invite"):
        raise PermissionDenied("Your role does not include “members:invite”.")
    email = email.strip().lower()
    _check_role_choice(organization=organization, role=role, custom_role=custom_role)
    if role == RoleName.OWNER and not actor.is_owner:
        raise ValidationError("Only an owner can invite an owner.")
    _require_within(
        actor,
        role_permissions(role=role, custom_role=custom_role),
        "You can't invite someone with permissions that your own role does not include.",
    )
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise ValidationError(f"{email} is already a member of {organization.name}.")
    now = timezone.now()
    superseded = Invitation.objects.filter(
        organization=organization, email__iexact=email, accepted_at=None, revoked_at=None, expires_at__gt=now
    )
    for old in superseded:
        old.revoked_at = now
        old.save(update_fields=["revoked_at"])
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        custom_role=custom_role,
        token_hash=invitation_token_hash(token),
        invited_by=actor.user,
        created_at=now,
        expires_at=now + timedelta(days=settings.INVITATION_MAX_AGE_DAYS),
    )
    audit_record(
        action="invitation.created",
        actor=actor.user,
        organization=organization,
        meta=meta,
        target=invitation,
        details={"email": email, "role": role if custom_role is None else custom_role.name},
    )
    send_templated_email(
        to=email,
        template="invitation",
        context={
            "organization": organization.name,
            "inviter": actor.user.get_full_name(),
            "role": custom_role.name if custom_role else RoleName(role).label,
            "accept_url": absolute_url(reverse("accounts:invitation_accept", kwargs={"token": token})),
            "expires_at": invitation.expires_at,
        },
    )
    return invitation, token


def invitation_revoke(*, invitation: Invitation, actor: Membership, meta: RequestMeta = SYSTEM) -> Invitation:
    if not actor.has_perm("members:invite"):
        raise PermissionDenied("Your role does not include “members:invite”.")
    if invitation.organization_id != actor.organization_id:
        raise PermissionDenied("That invitation belongs to another organisation.")
    if invitation.status != Invitation.Status.PENDING:
        raise ValidationError("Only a pending invitation can be revoked.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        action="invitation.revoked",
        actor=actor.user,
        organization=invitation.organization,
        meta=meta,
        target=invitation,
        details={"email": invitation.email},
    )
    return invitation


class InvitationRefused(ValidationError):
    """An invitation that can't be accepted; `status_code` is what the page answers."""

    def __init__(self, message: str, *, status_code: int = 400):
        super().__init__(message)
        self.status_code = status_code


def invitation_check(*, invitation: Invitation, user: User | None) -> None:
    """Raise InvitationRefused unless `user` may accept `invitation` now."""
    status = invitation.status
    if status == Invitation.Status.ACCEPTED:
        raise InvitationRefused("This invitation has already been used.")
    if status == Invitation.Status.REVOKED:
        raise InvitationRefused("This invitation was withdrawn. Ask for a new one.")
    if status == Invitation.Status.EXPIRED:
        raise InvitationRefused("This invitation has expired. Ask for a new one.")
    if user is None:
        return
    if user.email.lower() != invitation.email.lower():
        raise InvitationRefused(
            f"This invitation was sent to another e-mail address. You are signed in as {user.email}."
        )
    if not user.email_verified:
        raise InvitationRefused("Verify your e-mail address before accepting the invitation.")


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User, meta: RequestMeta = SYSTEM) -> Membership:
    """Join the organisation; a repeated accept (a double click) returns the same membership."""
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("organization", "custom_role")
        .get(pk=invitation.pk)
    )
    existing = Membership.objects.filter(organization=invitation.organization, user=user).first()
    if existing is not None and invitation.accepted_by_id == user.id:
        return existing
    invitation_check(invitation=invitation, user=user)
    if existing is None:
        membership = Membership.objects.create(
            user=user, organization=invitation.organization, role=invitation.role, custom_role=invitation.custom_role
        )
    else:
        # Already a member by another way (a second invitation): keep the current role,
        # so an invitation can never silently change someone's permissions.
        membership = existing
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        action="invitation.accepted",
        actor=user,
        organization=invitation.organization,
        meta=meta,
        target=invitation,
        details={"email": user.email, "role": membership.role_label},
    )
    return membership


# -- Custom roles --------------------------------------------------------------------


def _clean_role_codes(*, actor: Membership, permissions: list[str]) -> list[str]:
    codes = sorted(set(permissions))
    unknown = validate_codes(codes)
    if unknown:
        raise ValidationError(f"Unknown permissions: {', '.join(unknown)}.")
    if not codes:
        raise ValidationError("Choose at least one permission.")
    missing = sorted(set(codes) - actor.permissions)
    if missing:
        raise ValidationError(f"You can't grant permissions your own role does not include: {', '.join(missing)}.")
    return codes


def _check_role_name(*, organization: Organization, name: str, exclude: Role | None = None) -> str:
    name = name.strip()
    if not name:
        raise ValidationError("A role needs a name.")
    clash = Role.objects.filter(organization=organization, name__iexact=name)
    if exclude is not None:
        clash = clash.exclude(pk=exclude.pk)
    if clash.exists() or name.lower() in {label.lower() for label in RoleName.labels}:
        raise ValidationError(f"A role called “{name}” already exists.")
    return name


def _check_roles_manage(actor: Membership) -> None:
    if not actor.has_perm("roles:manage"):
        raise PermissionDenied("Your role does not include “roles:manage”.")


@transaction.atomic
def role_create(
    *, actor: Membership, name: str, description: str = "", permissions: list[str], meta: RequestMeta = SYSTEM
) -> Role:
    _check_roles_manage(actor)
    organization = actor.organization
    role = Role.objects.create(
        organization=organization,
        name=_check_role_name(organization=organization, name=name),
        description=description.strip(),
        permissions=_clean_role_codes(actor=actor, permissions=permissions),
    )
    audit_record(
        action="role.created",
        actor=actor.user,
        organization=organization,
        meta=meta,
        target=role,
        details={"name": role.name, "permissions": role.permissions},
    )
    return role


@transaction.atomic
def role_update(
    *,
    role: Role,
    actor: Membership,
    name: str,
    description: str = "",
    permissions: list[str],
    meta: RequestMeta = SYSTEM,
) -> Role:
    """Edit a custom role; the actor must hold everything the role grants before and after."""
    _check_roles_manage(actor)
    if role.organization_id != actor.organization_id:
        raise PermissionDenied("That role belongs to another organisation.")
    _require_within(actor, frozenset(role.permissions), "This role holds permissions your own role does not include.")
    codes = _clean_role_codes(actor=actor, permissions=permissions)
    before = list(role.permissions)
    role.name = _check_role_name(organization=role.organization, name=name, exclude=role)
    role.description = description.strip()
    role.permissions = codes
    role.save(update_fields=["name", "description", "permissions"])
    audit_record(
        action="role.updated",
        actor=actor.user,
        organization=role.organization,
        meta=meta,
        target=role,
        details={
            "name": role.name,
            "added": sorted(set(codes) - set(before)),
            "removed": sorted(set(before) - set(codes)),
        },
    )
    return role


@transaction.atomic
def role_delete(*, role: Role, actor: Membership, meta: RequestMeta = SYSTEM) -> None:
    _check_roles_manage(actor)
    if role.organization_id != actor.organization_id:
        raise PermissionDenied("That role belongs to another organisation.")
    assigned = role.memberships.count()
    if assigned:
        raise ValidationError(
            f"“{role.name}” is still the role of {assigned} member{'s' if assigned != 1 else ''}. "
            "Give them another role first."
        )
    audit_record(
        action="role.deleted",
        actor=actor.user,
        organization=role.organization,
        meta=meta,
        target=role,
        details={"name": role.name, "permissions": role.permissions},
    )
    # Pending invitations with this role go with it (Invitation.custom_role cascades).
    role.delete()


# -- Partner profile and verification ------------------------------------------------

PARTNER_PROFILE_FIELDS = (
    "legal_name",
    "registration_number",
    "country",
    "website",
    "address",
    "contact_name",
    "contact_email",
    "contact_phone",
)
# What a reviewer verified: changing any of these on a verified profile sends it back
# to review. Contact details can change freely.
PARTNER_LEGAL_FIELDS = ("legal_name", "registration_number", "country", "address")


@transaction.atomic
def partner_profile_update(
    *, profile: PartnerProfile, actor: User, data: dict[str, str], meta: RequestMeta = SYSTEM
) -> PartnerProfile:
    """Save the company profile.

    A verified profile whose legal identity (legal name, registration number, country
    or address) changes goes back to "pending review": the badge must describe the
    company staff actually checked, so the change is re-submitted automatically rather
    than left verified or silently reset to "not submitted". A pending or rejected
    profile keeps its status; a rejected one is re-submitted explicitly.
    """
    changes = {}
    for field in PARTNER_PROFILE_FIELDS:
        if field not in data:
            continue
        value = (data[field] or "").strip()
        if field == "country":
            value = value.upper()
        if getattr(profile, field) != value:
            changes[field] = value
    if not changes:
        return profile
    for field, value in changes.items():
        setattr(profile, field, value)
    update_fields = list(changes)
    resubmitted = profile.is_verified and any(field in changes for field in PARTNER_LEGAL_FIELDS)
    if resubmitted:
        profile.verification_status = PartnerProfile.Verification.PENDING
        profile.submitted_at = timezone.now()
        profile.decided_at = None
        profile.decided_by = None
        update_fields += ["verification_status", "submitted_at", "decided_at", "decided_by"]
    profile.save(update_fields=update_fields)
    audit_record(
        action="partner.profile_updated",
        actor=actor,
        organization=profile.organization,
        meta=meta,
        target=profile.organization,
        details={"fields": sorted(changes), "back_to_review": resubmitted},
    )
    return profile


@transaction.atomic
def partner_profile_submit(*, profile: PartnerProfile, actor: User, meta: RequestMeta = SYSTEM) -> PartnerProfile:
    status = profile.verification_status
    if status == PartnerProfile.Verification.PENDING:
        raise ValidationError("The profile is already waiting for review.")
    if status == PartnerProfile.Verification.VERIFIED:
        raise ValidationError("The profile is already verified.")
    missing = profile.missing_fields()
    if missing:
        labels = [str(PartnerProfile._meta.get_field(name).verbose_name) for name in missing]
        raise ValidationError(f"Complete the profile first. Missing: {', '.join(labels)}.")
    profile.verification_status = PartnerProfile.Verification.PENDING
    profile.submitted_at = timezone.now()
    profile.save(update_fields=["verification_status", "submitted_at"])
    audit_record(
        action="partner.submitted",
        actor=actor,
        organization=profile.organization,
        meta=meta,
        target=profile.organization,
    )
    return profile


@transaction.atomic
def partner_verification_decide(
    *, profile: PartnerProfile, decision: str, reason: str = "", actor: User, meta: RequestMeta = SYSTEM
) -> PartnerProfile:
    """Staff verify or reject a partner; the partner's owners and admins hear either way."""
    reason = (reason or "").strip()
    if decision == PartnerProfile.Verification.VERIFIED:
        missing = profile.missing_fields()
        if missing:
            raise ValidationError(f"The profile is incomplete ({', '.join(missing)}); it can't be verified.")
        reason = ""
    elif decision == PartnerProfile.Verification.REJECTED:
        if not reason:
            raise ValidationError("A rejection needs a reason the partner can act on.")
    else:
        raise ValidationError("The decision is either verified or rejected.")
    profile.verification_status = decision
    profile.rejection_reason = reason
    profile.decided_at = timezone.now()
    profile.decided_by = actor
    profile.save(update_fields=["verification_status", "rejection_reason", "decided_at", "decided_by"])
    organization = profile.organization
    audit_record(
        action=f"partner.{decision}",
        actor=actor,
        organization=organization,
        meta=meta,
        target=organization,
        details={"reason": reason} if reason else {},
    )
    recipients = list(
        Membership.objects.filter(organization=organization, role__in=[RoleName.OWNER, RoleName.ADMIN])
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )
    send_templated_email(
        to=recipients,
        template="partner_verified" if decision == PartnerProfile.Verification.VERIFIED else "partner_rejected",
        context={
            "organization": organization.name,
            "reason": reason,
            "profile_url": absolute_url(reverse("accounts:partner_profile")),
        },
    )
    return profile


# ==== Housekeeping ====

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
