"""Writes for API keys: create, update, rotate, revoke, bulk operations, leak reports.

Actors: a `Membership` for a member of the key's organisation (its permissions
bound what it may do and grant), or a staff `User` acting from Django admin, or None
for the system (a leak report). Every operation writes the audit log. Validation
errors raise django's ValidationError with per-field messages; permission problems
raise a 403 problem.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import iso3166
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Membership, Organization, RoleName, User
from accounts.permissions import BY_CODE
from accounts.services import SYSTEM, RequestMeta, audit_record
from apikeys.authentication import key_cache
from apikeys.conf import pepper_ring
from apikeys.models import (
    ApiKey,
    DelegatedGrant,
    DelegatedGrantCredential,
    Environment,
    KeyPolicy,
    KeyTemplate,
    OAuthApplication,
)
from apikeys.ratelimit import limiter
from portal.emails import absolute_url, send_templated_email
from portal.lib import keys as keyfmt
from portal.problems import ProblemException

ROTATION_GRACE_PERIODS: dict[int, str] = {0: "none", 3600: "1 hour", 86_400: "24 hours", 604_800: "7 days"}
MAX_SCOPES = 100
MAX_ALLOWED_IPS = 50


class _Unset:
    """Marks an argument the caller left out, where None is a meaningful value."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


Actor = Membership | User | None


# ---- checks ------------------------------------------------------------------------------


def _forbidden(detail: str) -> ProblemException:
    return ProblemException(status_code=403, detail=detail, slug="forbidden", title="Forbidden")


def _actor_user(actor: Actor) -> User | None:
    if isinstance(actor, Membership):
        return actor.user
    return actor


def _require(actor: Actor, organization: Organization, permission: str) -> None:
    """Members need `permission` in the key's organisation; staff may act from admin."""
    if actor is None:
        return  # the system itself (leak reports, scheduled expiry)
    if isinstance(actor, User):
        if not actor.is_staff:
            raise _forbidden("Only staff can manage keys without a membership.")
        return
    if actor.organization_id != organization.pk:
        raise _forbidden("You are not a member of this key's organisation.")
    if not actor.has_perm(permission):
        raise _forbidden(f"Your role lacks the {permission} permission.")


def _require_environment(actor: Actor, environment: str) -> None:
    if environment == Environment.LIVE and isinstance(actor, Membership) and not actor.has_perm("keys:live"):
        raise _forbidden("Your role lacks the keys:live permission needed for live keys.")


def _clean_scopes(actor: Actor, scopes: Iterable[str], ceiling: frozenset[str] | None) -> list[str]:
    scopes = sorted(set(scopes))
    unknown = [s for s in scopes if s not in BY_CODE]
    if unknown:
        raise ValidationError({"scopes": [f"Unknown scope {s!r}." for s in unknown]})
    if not scopes:
        raise ValidationError({"scopes": ["A key needs at least one scope."]})
    if len(scopes) > MAX_SCOPES:
        raise ValidationError({"scopes": [f"At most {MAX_SCOPES} scopes."]})
    held = actor.permissions if isinstance(actor, Membership) else None
    if ceiling is not None:
        held = ceiling if held is None else held & ceiling
    if held is not None:
        beyond = [s for s in scopes if s not in held]
        if beyond:
            raise ValidationError({"scopes": [f"You cannot grant {s}: you do not hold it yourself." for s in beyond]})
    return scopes


def _clean_name(organization: Organization, name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["A key needs a name."]})
    if len(name) > 100:
        raise ValidationError({"name": ["At most 100 characters."]})
    policy = KeyPolicy.objects.filter(organization=organization).first()
    if policy is not None and policy.name_pattern:
        try:
            matches = re.fullmatch(policy.name_pattern, name) is not None
        except re.error:
            matches = True  # a broken pattern is rejected when the policy is saved; never lock keys out
        if not matches:
            raise ValidationError(
                {"name": [policy.name_message or f"The name must match the pattern {policy.name_pattern}."]}
            )
    return name


def clean_allowed_ips(values: Iterable[str]) -> list[str]:
    values = list(values)
    if len(values) > MAX_ALLOWED_IPS:
        raise ValidationError({"allowed_ips": [f"At most {MAX_ALLOWED_IPS} entries."]})
    cleaned, errors = [], []
    for value in values:
        try:
            cleaned.append(str(ipaddress.ip_network(str(value).strip(), strict=False)))
        except ValueError:
            errors.append(f"{value!r} is not an IPv4 or IPv6 address or CIDR range.")
    if errors:
        raise ValidationError({"allowed_ips": errors})
    return sorted(set(cleaned))


def clean_allowed_countries(values: Iterable[str]) -> list[str]:
    """ISO 3166-1 alpha-2 codes, upper-cased and de-duplicated; unknown codes are an error."""
    cleaned, errors = set(), []
    for value in values:
        code = str(value).strip().upper()
        if not code:
            continue
        if code in iso3166.countries_by_alpha2:
            cleaned.add(code)
        else:
            errors.append(f"{value!r} is not an ISO 3166 two-letter country code.")
    if errors:
        raise ValidationError({"allowed_countries": errors})
    return sorted(cleaned)


def _clean_expiry(expires_at: datetime | None) -> datetime | None:
    if expires_at is None:
        return None
    if timezone.is_naive(expires_at):
        raise ValidationError({"expires_at": ["Give a time zone."]})
    if expires_at <= timezone.now():
        raise ValidationError({"expires_at": ["The expiry must be in the future."]})
    return expires_at


def _clean_rate_limit(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise ValidationError({"rate_limit_per_hour": ["Must be at least 1."]})
    return value


# ---- notices -----------------------------------------------------------------------------


def _admin_emails(organization: Organization) -> list[str]:
    return list(
        Membership.objects.filter(organization=organization, role__in=[RoleName.OWNER, RoleName.ADMIN])
        .select_related("user")
        .values_list("user__email", flat=True)
    )


def _notify(key: ApiKey, *, event: str, actor: Actor, extra: str = "", by_actor: bool = True) -> None:
    """E-mail the organisation's owners and admins; `event` reads "<key> was <event> by <actor>"."""
    user = _actor_user(actor)
    send_templated_email(
        to=_admin_emails(key.organization),
        template="apikey_notice",
        context={
            "event": event,
            "key_name": key.name,
            "key_prefix": key.display_prefix,
            "last4": key.last4,
            "environment": key.get_environment_display(),
            "organization": key.organization.name,
            "actor": (user.email if user is not None else "the portal") if by_actor else "",
            "extra": extra,
            "keys_url": absolute_url("/keys/"),
        },
    )


def _after_revocation(lookup_id: str) -> None:
    """Tell every process: the marker is checked in the rate-limit round trip."""

    def publish():
        key_cache.invalidate(lookup_id)
        limiter.mark_revoked(lookup_id)

    transaction.on_commit(publish)


def _new_secret(environment: str, lookup_id: str | None = None) -> tuple[str, keyfmt.ParsedKey, str, str]:
    full, parsed = keyfmt.generate(environment, lookup_id=lookup_id)
    ring = pepper_ring()
    return full, parsed, keyfmt.digest(parsed.secret, ring.peppers[ring.current]), ring.current


# ---- single keys -------------------------------------------------------------------------


@transaction.atomic
def apikey_create(
    *,
    organization: Organization,
    actor_membership: Membership,
    name: str,
    environment: str,
    scopes: Sequence[str] = (),
    description: str = "",
    expires_at: datetime | None = None,
    allowed_ips: Sequence[str] = (),
    allowed_countries: Sequence[str] = (),
    rate_limit_per_hour: int | None = None,
    template: KeyTemplate | None = None,
    scope_ceiling: frozenset[str] | None = None,
    meta: RequestMeta = SYSTEM,
) -> tuple[ApiKey, str]:
    """A new key and its full secret, which is never shown again.

    `template` fills what the caller left empty. `scope_ceiling` bounds the grantable
    scopes further (a key creating keys cannot grant more than it holds itself).
    """
    _require(actor_membership, organization, "keys:create")
    if template is not None:
        if template.organization_id != organization.pk:
            raise ValidationError({"template": ["No such template in this organisation."]})
        scopes = scopes or template.scopes
        environment = environment or template.environment
        allowed_ips = allowed_ips or template.allowed_ips
        rate_limit_per_hour = rate_limit_per_hour or template.rate_limit_per_hour
        if expires_at is None and template.expires_in_days:
            expires_at = timezone.now() + timedelta(days=template.expires_in_days)
    if environment not in Environment.values:
        raise ValidationError({"environment": ["Choose live or test."]})
    _require_environment(actor_membership, environment)
    key = ApiKey(
        organization=organization,
        environment=environment,
        name=_clean_name(organization, name),
        description=(description or "").strip()[:500],
        scopes=_clean_scopes(actor_membership, scopes, scope_ceiling),
        expires_at=_clean_expiry(expires_at),
        allowed_ips=clean_allowed_ips(allowed_ips),
        allowed_countries=clean_allowed_countries(allowed_countries),
        rate_limit_per_hour=_clean_rate_limit(rate_limit_per_hour),
        created_by=actor_membership.user,
    )
    full, parsed, digest, version = _new_secret(environment)
    key.lookup_id, key.digest, key.pepper_version, key.last4 = parsed.lookup_id, digest, version, keyfmt.last4(full)
    key.save()
    audit_record(
        action="apikey.created",
        actor=actor_membership.user,
        organization=organization,
        meta=meta,
        target=key,
        details={
            "name": key.name,
            "environment": environment,
            "scopes": key.scopes,
            "template": template.public_id if template else None,
        },
    )
    _notify(key, event="created", actor=actor_membership)
    return key, full


@transaction.atomic
def apikey_update(
    *,
    key: ApiKey,
    actor: Actor,
    name: str | None = None,
    description: str | None = None,
    scopes: Sequence[str] | None = None,
    allowed_ips: Sequence[str] | None = None,
    allowed_countries: Sequence[str] | None = None,
    rate_limit_per_hour: int | None | type[_Unset] = _Unset,
    expires_at: datetime | None | type[_Unset] = _Unset,
    scope_ceiling: frozenset[str] | None = None,
    meta: RequestMeta = SYSTEM,
) -> ApiKey:
    """Change a key's settings; arguments left out stay as they are (None clears a limit or expiry)."""
    _require(actor, key.organization, "keys:manage")
    if key.livemode:
        _require_environment(actor, key.environment)
    changes: dict[str, list] = {}
    if name is not None and name.strip() != key.name:
        changes["name"] = [key.name, _clean_name(key.organization, name)]
        key.name = changes["name"][1]
    if description is not None and description.strip() != key.description:
        changes["description"] = [key.description, description.strip()[:500]]
        key.description = changes["description"][1]
    if scopes is not None:
        cleaned = _clean_scopes(actor, scopes, scope_ceiling)
        if cleaned != sorted(key.scopes):
            changes["scopes"] = [key.scopes, cleaned]
            key.scopes = cleaned
    if allowed_ips is not None and (cleaned_ips := clean_allowed_ips(allowed_ips)) != key.allowed_ips:
        changes["allowed_ips"] = [key.allowed_ips, cleaned_ips]
        key.allowed_ips = cleaned_ips
    if (
        allowed_countries is not None
        and (cleaned_countries := clean_allowed_countries(allowed_countries)) != key.allowed_countries
    ):
        changes["allowed_countries"] = [key.allowed_countries, cleaned_countries]
        key.allowed_countries = cleaned_countries
    if (
        rate_limit_per_hour is not _Unset
        and (limit := _clean_rate_limit(rate_limit_per_hour)) != key.rate_limit_per_hour
    ):
        changes["rate_limit_per_hour"] = [key.rate_limit_per_hour, limit]
        key.rate_limit_per_hour = limit
    if expires_at is not _Unset and expires_at != key.expires_at:
        cleaned_expiry = _clean_expiry(expires_at)
        changes["expires_at"] = [_iso(key.expires_at), _iso(cleaned_expiry)]
        key.expires_at = cleaned_expiry
        key.expiry_notice_days = None  # a new expiry earns its notices again
    if changes:
        fields = list(changes) + (["expiry_notice_days"] if "expires_at" in changes else [])
        key.save(update_fields=fields)
        key_cache.invalidate(key.lookup_id)
        audit_record(
            action="apikey.updated",
            actor=_actor_user(actor),
            organization=key.organization,
            meta=meta,
            target=key,
            details={"changes": changes},
        )
    return key


@transaction.atomic
def apikey_rotate(*, key: ApiKey, actor: Actor, grace: timedelta, meta: RequestMeta = SYSTEM) -> tuple[ApiKey, str]:
    """A new secret for the same key; the old one keeps working for `grace`."""
    _require(actor, key.organization, "keys:manage")
    _require_environment(actor, key.environment)
    seconds = int(grace.total_seconds())
    if seconds not in ROTATION_GRACE_PERIODS:
        raise ValidationError({"grace": ["Choose a grace period of 0, 1 hour, 24 hours or 7 days."]})
    if key.revoked_at is not None:
        raise ValidationError({"key": ["A revoked key cannot be rotated."]})
    now = timezone.now()
    full, _parsed, digest, version = _new_secret(key.environment, key.lookup_id)
    key.previous_digest, key.previous_pepper_version = key.digest, key.pepper_version
    key.previous_valid_until = now + grace
    key.digest, key.pepper_version, key.last4, key.rotated_at = digest, version, keyfmt.last4(full), now
    key.save(
        update_fields=[
            "previous_digest",
            "previous_pepper_version",
            "previous_valid_until",
            "digest",
            "pepper_version",
            "last4",
            "rotated_at",
        ]
    )
    key_cache.invalidate(key.lookup_id)
    audit_record(
        action="apikey.rotated",
        actor=_actor_user(actor),
        organization=key.organization,
        meta=meta,
        target=key,
        details={"grace_seconds": seconds},
    )
    _notify(
        key, event="rotated", actor=actor, extra=f"The previous secret works for {ROTATION_GRACE_PERIODS[seconds]}."
    )
    return key, full


@transaction.atomic
def apikey_revoke(*, key: ApiKey, actor: Actor, reason: str = "", meta: RequestMeta = SYSTEM) -> ApiKey:
    """Revoke at once; every process stops accepting the key within a second."""
    _require(actor, key.organization, "keys:manage")
    _require_environment(actor, key.environment)
    if key.revoked_at is not None:
        return key
    key.revoked_at = timezone.now()
    key.revoked_reason = (reason or "").strip()[:200]
    key.save(update_fields=["revoked_at", "revoked_reason"])
    _after_revocation(key.lookup_id)
    audit_record(
        action="apikey.revoked",
        actor=_actor_user(actor),
        organization=key.organization,
        meta=meta,
        target=key,
        details={"reason": key.revoked_reason},
    )
    _notify(key, event="revoked", actor=actor, extra=key.revoked_reason)
    return key


@transaction.atomic
def apikey_set_expiry(*, key: ApiKey, actor: Actor, expires_at: datetime | None, meta: RequestMeta = SYSTEM) -> ApiKey:
    _require(actor, key.organization, "keys:manage")
    _require_environment(actor, key.environment)
    previous = key.expires_at
    key.expires_at = _clean_expiry(expires_at)
    key.expiry_notice_days = None
    key.save(update_fields=["expires_at", "expiry_notice_days"])
    key_cache.invalidate(key.lookup_id)
    audit_record(
        action="apikey.expiry_changed",
        actor=_actor_user(actor),
        organization=key.organization,
        meta=meta,
        target=key,
        details={
            "from": previous.isoformat() if previous else None,
            "to": expires_at.isoformat() if expires_at else None,
        },
    )
    return key


# ---- many keys at once -------------------------------------------------------------------
# All or nothing: one key the actor may not touch fails the whole batch.


@transaction.atomic
def apikey_bulk_revoke(*, keys: Sequence[ApiKey], actor: Actor, reason: str = "", meta: RequestMeta = SYSTEM) -> int:
    revoked = 0
    for key in keys:
        if key.revoked_at is None:
            apikey_revoke(key=key, actor=actor, reason=reason, meta=meta)
            revoked += 1
    return revoked


@transaction.atomic
def apikey_bulk_rotate(
    *, keys: Sequence[ApiKey], actor: Actor, grace: timedelta, meta: RequestMeta = SYSTEM
) -> list[tuple[ApiKey, str]]:
    return [apikey_rotate(key=key, actor=actor, grace=grace, meta=meta) for key in keys]


@transaction.atomic
def apikey_bulk_set_expiry(
    *, keys: Sequence[ApiKey], actor: Actor, expires_at: datetime | None, meta: RequestMeta = SYSTEM
) -> int:
    for key in keys:
        apikey_set_expiry(key=key, actor=actor, expires_at=expires_at, meta=meta)
    return len(keys)


@transaction.atomic
def apikey_bulk_set_scopes(
    *,
    keys: Sequence[ApiKey],
    actor: Actor,
    scopes: Sequence[str],
    scope_ceiling: frozenset[str] | None = None,
    meta: RequestMeta = SYSTEM,
) -> int:
    for key in keys:
        apikey_update(key=key, actor=actor, scopes=scopes, scope_ceiling=scope_ceiling, meta=meta)
    return len(keys)


# ---- expiry notices ----------------------------------------------------------------------

EXPIRY_NOTICE_DAYS = (30, 7, 1)


def apikey_send_expiry_notices(*, now: datetime | None = None) -> int:
    """E-mail the admins of keys expiring within 30, 7 and 1 days; one e-mail per key and threshold.

    Each notice is claimed with a conditional update before it is sent, so two runs at
    once (or a retried task) send it once. A key inside several thresholds at the first
    run gets only the tightest notice.
    """
    now = now or timezone.now()
    sent = 0
    for days in sorted(EXPIRY_NOTICE_DAYS):
        due = ApiKey.objects.filter(
            revoked_at__isnull=True, expires_at__gt=now, expires_at__lte=now + timedelta(days=days)
        ).exclude(expiry_notice_days__lte=days)
        for key in due.select_related("organization").iterator():
            with transaction.atomic():
                claimed = (
                    ApiKey.objects.filter(pk=key.pk, expires_at=key.expires_at)
                    .exclude(expiry_notice_days__lte=days)
                    .update(expiry_notice_days=days)
                )
                if not claimed:
                    continue
                _notify(
                    key,
                    event=f"expires in {days} day{'s' if days > 1 else ''}",
                    actor=None,
                    by_actor=False,
                    extra=f"It stops working at {key.expires_at:%Y-%m-%d %H:%M} UTC. Rotate or extend it.",
                )
                sent += 1
    return sent


# ---- leak reports ------------------------------------------------------------------------


def apikey_report_leaked(*, raw: str, meta: RequestMeta = SYSTEM) -> ApiKey | None:
    """A secret scanner found `raw` in public: if it is a live key of ours, revoke it now.

    Returns the revoked key or None. Callers answer the same way either way, so the
    endpoint is no oracle for which strings are valid keys.
    """
    raw = (raw or "").strip()
    try:
        parsed = keyfmt.parse_key(raw)
    except keyfmt.KeyFormatError:
        return None
    if parsed.environment != Environment.LIVE:
        return None
    with transaction.atomic():
        key = (
            ApiKey.objects.select_for_update()
            .select_related("organization")
            .filter(lookup_id=parsed.lookup_id, revoked_at__isnull=True)
            .first()
        )
        if key is None or not _secret_matches(key, parsed.secret):
            return None
        apikey_revoke(key=key, actor=None, reason="Reported as leaked", meta=meta)
        audit_record(
            action="apikey.leak_reported",
            actor=None,
            organization=key.organization,
            meta=meta,
            target=key,
            details={},
        )
    return key


def _secret_matches(key: ApiKey, secret: str) -> bool:
    ring = pepper_ring()
    for digest, version in ((key.digest, key.pepper_version), (key.previous_digest, key.previous_pepper_version)):
        pepper = ring.get(version)
        if digest and pepper is not None and keyfmt.verify(secret, pepper, digest):
            return True
    return False


# ==== OAuth applications ====
# Applications are confidential clients of one organisation and environment. The client
# secret is hashed by django-oauth-toolkit when the row is saved, so it is returned once,
# from create and rotate. Tokens are bounded by `allowed_scopes` (apikeys.oauth).

OAUTH_GRANT_TYPES: dict[str, str] = {
    "client_credentials": OAuthApplication.GRANT_CLIENT_CREDENTIALS,
    "authorization_code": OAuthApplication.GRANT_AUTHORIZATION_CODE,
}
MAX_REDIRECT_URIS = 10
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _clean_application_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["An application needs a name."]})
    if len(name) > 100:
        raise ValidationError({"name": ["At most 100 characters."]})
    return name


def _clean_application_scopes(actor: Actor, scopes: Iterable[str]) -> list[str]:
    scopes = list(scopes or [])
    if not scopes:
        raise ValidationError({"scopes": ["An application needs at least one allowed scope."]})
    return _clean_scopes(actor, scopes, None)


def _clean_redirect_uris(uris: Iterable[str], *, environment: str, grant_type: str) -> list[str]:
    """Exact URIs: https, or http on a loopback host for test-mode applications (RFC 8252 7.3)."""
    cleaned, errors = [], []
    for raw in uris:
        uri = str(raw).strip()
        if not uri:
            continue
        parts = urlsplit(uri)
        if parts.scheme not in {"https", "http"} or not parts.hostname:
            errors.append(f"{uri!r} is not an absolute http(s) URL.")
        elif parts.fragment or "#" in uri:
            errors.append(f"{uri!r} must not have a fragment (RFC 6749 3.1.2).")
        elif parts.username or parts.password:
            errors.append(f"{uri!r} must not carry credentials.")
        elif "*" in uri:
            errors.append(f"{uri!r}: wildcards are not allowed; register exact URIs.")
        elif parts.scheme == "http" and (environment != Environment.TEST or parts.hostname not in LOOPBACK_HOSTS):
            errors.append(f"{uri!r}: use https. Plain http is allowed only for 127.0.0.1 or localhost in test mode.")
        elif len(uri) > 500:
            errors.append(f"{uri[:40]!r}…: at most 500 characters.")
        else:
            cleaned.append(uri)
    if errors:
        raise ValidationError({"redirect_uris": errors})
    cleaned = list(dict.fromkeys(cleaned))
    if len(cleaned) > MAX_REDIRECT_URIS:
        raise ValidationError({"redirect_uris": [f"At most {MAX_REDIRECT_URIS} redirect URIs."]})
    if grant_type == OAuthApplication.GRANT_AUTHORIZATION_CODE and not cleaned:
        raise ValidationError({"redirect_uris": ["The authorization code grant needs at least one redirect URI."]})
    if grant_type == OAuthApplication.GRANT_CLIENT_CREDENTIALS and cleaned:
        raise ValidationError({"redirect_uris": ["Client credentials applications do not redirect; leave it empty."]})
    return cleaned


def _new_client_secret() -> str:
    from oauth2_provider.generators import generate_client_secret

    return generate_client_secret()


def _revoke_application_tokens(application: OAuthApplication) -> int:
    """Delete every token, refresh token and pending code of the application.

    Deleting access tokens one by one fires the post_delete receiver that marks each
    revoked in Redis (apikeys.oauth.publish_token_revocation).
    """
    from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

    get_grant_model().objects.filter(application=application).delete()
    get_refresh_token_model().objects.filter(application=application).delete()
    access_tokens = get_access_token_model().objects.filter(application=application)
    return access_tokens.delete()[1].get(access_tokens.model._meta.label, 0)


@transaction.atomic
def oauth_application_create(
    *,
    organization: Organization,
    actor_membership: Membership,
    name: str,
    environment: str,
    grant_type: str,
    redirect_uris: list[str],
    scopes: list[str],
    description: str = "",
    meta: RequestMeta = SYSTEM,
) -> tuple[OAuthApplication, str]:
    """A new confidential client and its client secret, which is never shown again."""
    _require(actor_membership, organization, "oauth_apps:manage")
    if environment not in Environment.values:
        raise ValidationError({"environment": ["Choose live or test."]})
    _require_environment(actor_membership, environment)
    if grant_type not in OAUTH_GRANT_TYPES:
        raise ValidationError({"grant_type": ["Choose client_credentials or authorization_code."]})
    dot_grant = OAUTH_GRANT_TYPES[grant_type]
    secret = _new_client_secret()
    application = OAuthApplication(
        organization=organization,
        environment=environment,
        name=_clean_application_name(name),
        description=(description or "").strip()[:500],
        authorization_grant_type=dot_grant,
        client_type=OAuthApplication.CLIENT_CONFIDENTIAL,
        redirect_uris=" ".join(_clean_redirect_uris(redirect_uris, environment=environment, grant_type=dot_grant)),
        allowed_scopes=_clean_application_scopes(actor_membership, scopes),
        client_secret=secret,
        hash_client_secret=True,
        skip_authorization=False,
        created_by=actor_membership.user,
    )
    application.save()
    audit_record(
        action="oauth_application.created",
        actor=actor_membership.user,
        organization=organization,
        meta=meta,
        target=application,
        details={
            "name": application.name,
            "environment": environment,
            "grant_type": grant_type,
            "scopes": application.allowed_scopes,
            "redirect_uris": application.redirect_uri_list,
        },
    )
    return application, secret


@transaction.atomic
def oauth_application_update(
    *,
    application: OAuthApplication,
    actor_membership: Membership,
    name: str | None = None,
    description: str | None = None,
    redirect_uris: list[str] | None = None,
    scopes: list[str] | None = None,
    meta: RequestMeta = SYSTEM,
) -> OAuthApplication:
    """Change an application; arguments left out stay as they are.

    Narrowing the scopes narrows live tokens too (the API intersects a token's scopes
    with its application's when it loads the token, within `APIKEY_CACHE_TTL`).
    """
    _require(actor_membership, application.organization, "oauth_apps:manage")
    _require_environment(actor_membership, application.environment)
    changes: dict[str, list] = {}
    if name is not None and (cleaned_name := _clean_application_name(name)) != application.name:
        changes["name"] = [application.name, cleaned_name]
        application.name = cleaned_name
    if description is not None and (cleaned_description := description.strip()[:500]) != application.description:
        changes["description"] = [application.description, cleaned_description]
        application.description = cleaned_description
    if redirect_uris is not None:
        cleaned_uris = _clean_redirect_uris(
            redirect_uris, environment=application.environment, grant_type=application.authorization_grant_type
        )
        if cleaned_uris != application.redirect_uri_list:
            changes["redirect_uris"] = [application.redirect_uri_list, cleaned_uris]
            application.redirect_uris = " ".join(cleaned_uris)
    if scopes is not None:
        cleaned_scopes = _clean_application_scopes(actor_membership, scopes)
        if cleaned_scopes != sorted(application.allowed_scopes):
            changes["scopes"] = [application.allowed_scopes, cleaned_scopes]
            application.allowed_scopes = cleaned_scopes
    if changes:
        fields = {"scopes": "allowed_scopes"}
        application.save(update_fields=[fields.get(field, field) for field in changes] + ["updated"])
        audit_record(
            action="oauth_application.updated",
            actor=_actor_user(actor_membership),
            organization=application.organization,
            meta=meta,
            target=application,
            details={"changes": changes},
        )
    return application


@transaction.atomic
def oauth_application_rotate_secret(
    *, application: OAuthApplication, actor_membership: Membership, meta: RequestMeta = SYSTEM
) -> tuple[OAuthApplication, str]:
    """A new client secret; the old one stops working at once.

    Access tokens already issued keep working until they expire (at most an hour);
    deleting the application is the way to cut them off too.
    """
    _require(actor_membership, application.organization, "oauth_apps:manage")
    _require_environment(actor_membership, application.environment)
    secret = _new_client_secret()
    application.client_secret = secret  # hashed by DOT's ClientSecretField on save
    application.secret_rotated_at = timezone.now()
    application.save(update_fields=["client_secret", "secret_rotated_at", "updated"])
    audit_record(
        action="oauth_application.secret_rotated",
        actor=_actor_user(actor_membership),
        organization=application.organization,
        meta=meta,
        target=application,
        details={},
    )
    return application, secret


@transaction.atomic
def oauth_application_delete(
    *, application: OAuthApplication, actor_membership: Membership, meta: RequestMeta = SYSTEM
) -> None:
    """Delete the application and revoke all its tokens, on every process within a second."""
    _require(actor_membership, application.organization, "oauth_apps:manage")
    _require_environment(actor_membership, application.environment)
    revoked = _revoke_application_tokens(application)
    audit_record(
        action="oauth_application.deleted",
        actor=_actor_user(actor_membership),
        organization=application.organization,
        meta=meta,
        target=application,
        details={"name": application.name, "client_id": application.client_id, "tokens_revoked": revoked},
    )
    application.delete()


def oauth_token_purge_expired(*, now: datetime | None = None) -> int:
    """Housekeeping (beat, hourly): delete what can no longer be used. Returns rows deleted.

    Expired access tokens go (client-credentials ones included) unless a live refresh
    token still pairs with one; refresh tokens go once past their lifetime (counted from
    their access token's expiry, as DOT counts it), revoked ones only after that lifetime
    too, so a replayed rotated token still trips reuse protection until then; expired
    authorization codes go. Mirrors DOT's `clear_expired`, with a `now` for tests.
    """
    from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model
    from oauth2_provider.settings import oauth2_settings

    now = now or timezone.now()
    AccessToken, RefreshToken, Grant = get_access_token_model(), get_refresh_token_model(), get_grant_model()
    lifetime = timedelta(seconds=oauth2_settings.REFRESH_TOKEN_EXPIRE_SECONDS)
    deleted = 0
    with transaction.atomic():
        dead_refresh = RefreshToken.objects.filter(
            Q(revoked__lte=now - lifetime)
            | Q(revoked__isnull=True, access_token__isnull=True)
            | Q(revoked__isnull=True, access_token__expires__lte=now - lifetime)
        )
        deleted += RefreshToken.objects.filter(pk__in=list(dead_refresh.values_list("pk", flat=True))).delete()[0]
        expired = AccessToken.objects.filter(expires__lt=now).exclude(
            pk__in=RefreshToken.objects.filter(revoked__isnull=True, access_token__isnull=False).values(
                "access_token_id"
            )
        )
        deleted += AccessToken.objects.filter(pk__in=list(expired.values_list("pk", flat=True))).delete()[0]
        deleted += Grant.objects.filter(expires__lt=now).delete()[0]
    return deleted


# ==== Delegated grants ====
# Authority an organisation gives another organisation's application (a marketplace
# install). The caller (marketplace.services) checks who may grant and audits; these keep
# the grant and its tokens consistent. docs/decisions.md, "Marketplace installs".


def delegated_grant_create(
    *, application: OAuthApplication, organization: Organization, environment: str, scopes: list[str], granted_by: User
) -> DelegatedGrant:
    if environment not in Environment.values:
        raise ValidationError({"environment": ["Choose live or test."]})
    unknown = [code for code in scopes if code not in BY_CODE]
    if unknown or not scopes:
        raise ValidationError({"scopes": [f"Unknown scope {code!r}." for code in unknown] or ["Grant some scope."]})
    return DelegatedGrant.objects.create(
        application=application,
        organization=organization,
        environment=environment,
        scopes=sorted(set(scopes)),
        granted_by=granted_by,
    )


def delegated_grant_set_scopes(*, grant: DelegatedGrant, scopes: list[str], granted_by: User) -> DelegatedGrant:
    """A renewed consent replaces the scopes; tokens already issued narrow with it when the
    API reloads them (their scopes are intersected with the grant's)."""
    grant.scopes = sorted(set(scopes))
    grant.granted_by = granted_by
    grant.save(update_fields=["scopes", "granted_by"])
    for checksum in DelegatedGrantCredential.objects.filter(
        grant=grant, kind=DelegatedGrantCredential.Kind.ACCESS
    ).values_list("checksum", flat=True):
        transaction.on_commit(lambda checksum=checksum: _forget_token(checksum))
    return grant


def _forget_token(checksum: str) -> None:
    from apikeys.authentication import token_cache

    token_cache.invalidate(checksum)


@transaction.atomic
def delegated_grant_revoke(*, grant: DelegatedGrant) -> int:
    """Revoke the grant and delete every token issued under it; returns the access tokens deleted.

    Deleting the access tokens fires the post_delete receiver that sets each one's Redis
    revocation marker (apikeys.oauth.publish_token_revocation), so every process refuses
    them on their next request despite its per-process cache. A pending code of the grant
    is refused at the token endpoint (the validator checks the grant).
    """
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model

    grant = DelegatedGrant.objects.select_for_update().get(pk=grant.pk)
    if grant.revoked_at is None:
        grant.revoked_at = timezone.now()
        grant.save(update_fields=["revoked_at"])
    # A subquery, not a list: a long-lived install has refreshed thousands of times.
    checksums = (
        DelegatedGrantCredential.objects.filter(grant=grant)
        .exclude(kind=DelegatedGrantCredential.Kind.CODE)
        .values("checksum")
    )
    AccessToken, RefreshToken = get_access_token_model(), get_refresh_token_model()
    RefreshToken.objects.filter(application_id=grant.application_id, token_checksum__in=checksums).delete()
    access_tokens = AccessToken.objects.filter(application_id=grant.application_id, token_checksum__in=checksums)
    return access_tokens.delete()[1].get(AccessToken._meta.label, 0)


# ==== Key templates and the naming policy ====
# Presets and rules per organisation, managed by members with key_templates:manage.
# A template's scopes are bounded by its author's, and again by the creator's when a key
# is made from it.

TEMPLATE_MAX_EXPIRY_DAYS = 3650


def _clean_template(
    *,
    organization: Organization,
    actor: Membership,
    name: str,
    environment: str,
    scopes: Sequence[str],
    expires_in_days: int | None,
    rate_limit_per_hour: int | None,
    allowed_ips: Sequence[str],
    exclude_pk: int | None = None,
) -> dict:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["A template needs a name."]})
    if len(name) > 100:
        raise ValidationError({"name": ["At most 100 characters."]})
    clash = KeyTemplate.objects.filter(organization=organization, name__iexact=name).exclude(pk=exclude_pk)
    if clash.exists():
        raise ValidationError({"name": ["Another template already has this name."]})
    environment = environment or ""
    if environment and environment not in Environment.values:
        raise ValidationError({"environment": ["Choose live, test or leave it empty."]})
    if expires_in_days is not None and not 1 <= expires_in_days <= TEMPLATE_MAX_EXPIRY_DAYS:
        raise ValidationError({"expires_in_days": [f"Between 1 and {TEMPLATE_MAX_EXPIRY_DAYS} days."]})
    return {
        "name": name,
        "environment": environment,
        "scopes": _clean_scopes(actor, scopes, None),
        "expires_in_days": expires_in_days,
        "rate_limit_per_hour": _clean_rate_limit(rate_limit_per_hour),
        "allowed_ips": clean_allowed_ips(allowed_ips),
    }


@transaction.atomic
def key_template_create(
    *,
    organization: Organization,
    actor_membership: Membership,
    name: str,
    scopes: Sequence[str],
    environment: str = "",
    expires_in_days: int | None = None,
    rate_limit_per_hour: int | None = None,
    allowed_ips: Sequence[str] = (),
    meta: RequestMeta = SYSTEM,
) -> KeyTemplate:
    _require(actor_membership, organization, "key_templates:manage")
    values = _clean_template(
        organization=organization,
        actor=actor_membership,
        name=name,
        environment=environment,
        scopes=scopes,
        expires_in_days=expires_in_days,
        rate_limit_per_hour=rate_limit_per_hour,
        allowed_ips=allowed_ips,
    )
    template = KeyTemplate.objects.create(organization=organization, **values)
    audit_record(
        action="key_template.created",
        actor=actor_membership.user,
        organization=organization,
        meta=meta,
        target=template,
        details=values,
    )
    return template


@transaction.atomic
def key_template_update(
    *,
    template: KeyTemplate,
    actor_membership: Membership,
    name: str,
    scopes: Sequence[str],
    environment: str = "",
    expires_in_days: int | None = None,
    rate_limit_per_hour: int | None = None,
    allowed_ips: Sequence[str] = (),
    meta: RequestMeta = SYSTEM,
) -> KeyTemplate:
    """Replace the template's settings; keys made from it earlier keep theirs."""
    _require(actor_membership, template.organization, "key_templates:manage")
    values = _clean_template(
        organization=template.organization,
        actor=actor_membership,
        name=name,
        environment=environment,
        scopes=scopes,
        expires_in_days=expires_in_days,
        rate_limit_per_hour=rate_limit_per_hour,
        allowed_ips=allowed_ips,
        exclude_pk=template.pk,
    )
    changes = {
        field: [getattr(template, field), value] for field, value in values.items() if getattr(template, field) != value
    }
    if changes:
        for field, (_old, new) in changes.items():
            setattr(template, field, new)
        template.save(update_fields=list(changes))
        audit_record(
            action="key_template.updated",
            actor=actor_membership.user,
            organization=template.organization,
            meta=meta,
            target=template,
            details={"changes": changes},
        )
    return template


@transaction.atomic
def key_template_delete(*, template: KeyTemplate, actor_membership: Membership, meta: RequestMeta = SYSTEM) -> None:
    _require(actor_membership, template.organization, "key_templates:manage")
    audit_record(
        action="key_template.deleted",
        actor=actor_membership.user,
        organization=template.organization,
        meta=meta,
        target=template,
        details={"name": template.name},
    )
    template.delete()


@transaction.atomic
def key_policy_update(
    *,
    organization: Organization,
    actor_membership: Membership,
    name_pattern: str,
    name_message: str = "",
    meta: RequestMeta = SYSTEM,
) -> KeyPolicy:
    """Set the naming policy; an empty pattern removes the rule. Existing names are untouched."""
    _require(actor_membership, organization, "key_templates:manage")
    name_pattern = (name_pattern or "").strip()
    name_message = (name_message or "").strip()
    if len(name_pattern) > 200:
        raise ValidationError({"name_pattern": ["At most 200 characters."]})
    if len(name_message) > 200:
        raise ValidationError({"name_message": ["At most 200 characters."]})
    if name_pattern:
        try:
            re.compile(name_pattern)
        except re.error as exc:
            raise ValidationError({"name_pattern": [f"Not a valid regular expression: {exc}."]})
    policy, _created = KeyPolicy.objects.select_for_update().get_or_create(organization=organization)
    previous = {"name_pattern": policy.name_pattern, "name_message": policy.name_message}
    policy.name_pattern, policy.name_message, policy.updated_at = name_pattern, name_message, timezone.now()
    policy.save(update_fields=["name_pattern", "name_message", "updated_at"])
    audit_record(
        action="key_policy.updated",
        actor=actor_membership.user,
        organization=organization,
        meta=meta,
        target=None,
        details={"from": previous, "to": {"name_pattern": name_pattern, "name_message": name_message}},
    )
    return policy


# ==== Penalty blocks ====


def ratelimit_block_lift(
    *, subject: str, actor: User, organization: Organization | None, target=None, meta: RequestMeta = SYSTEM
) -> None:
    """Lift a penalty block (`key:<pk>` or `ip:<address>`) everywhere, and say who did.

    Raises redis.RedisError when the limiter's store is unreachable, so the caller can
    tell the person instead of pretending the block is gone."""
    limiter.lift_block(subject)
    kind, _sep, value = subject.partition(":")
    audit_record(
        action="ratelimit.block_lifted",
        actor=actor,
        organization=organization,
        meta=meta,
        target=target,
        details={"subject": f"key:{target.public_id}" if kind == "key" and target is not None else subject},
    )
