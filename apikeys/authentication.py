"""DRF authentication with API keys, and the per-process key cache behind it.

The hot path makes no database query in steady state: a key row is loaded once into
a small per-process cache (TTL `APIKEY_CACHE_TTL`) and every request verifies the
HMAC against the cached digest. Revocation does not wait for the TTL: the rate-limit
script checks a Redis revocation marker in the same round trip (apikeys.ratelimit).
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication

from apikeys.conf import pepper_ring
from portal.lib import keys as keyfmt
from portal.lib.geo import country_of
from portal.problems import ProblemException, register_problem_type

# A lookup id that matched no row is remembered briefly, so a flood of well-formed but
# unknown keys does not turn into a flood of queries.
NEGATIVE_TTL = 5.0
# After a failed secret check, re-read the row at most this often: another process may
# have rotated the key since we cached it.
REFRESH_AFTER_MISMATCH = 1.0
CACHE_MAX_ENTRIES = 10_000

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


@dataclass(frozen=True, slots=True)
class KeyContext:
    """What the request knows about its credential; `request.auth` for key-authenticated calls."""

    credential_pk: int
    credential_id: str  # key_...
    lookup_id: str
    organization_id: int
    organization_public_id: str
    environment: str
    scopes: frozenset[str]
    created_by_id: int | None
    rate_limit_per_hour: int | None
    plan_requests_per_hour: int
    plan_burst: int
    # verification material, never serialised
    digest: str = field(repr=False)
    pepper_version: str = field(repr=False)
    previous_digest: str = field(repr=False, default="")
    previous_pepper_version: str = field(repr=False, default="")
    previous_valid_until: float | None = None
    expires_at: float | None = None
    revoked_at: float | None = None
    allowed_networks: tuple[Network, ...] = ()
    allowed_countries: frozenset[str] = frozenset()
    loaded_at: float = 0.0
    # A token issued under a DelegatedGrant (a marketplace install): it acts for the
    # granting organisation, and the capture attributes its calls to the grant.
    grant_id: int | None = None

    @property
    def livemode(self) -> bool:
        return self.environment == "live"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class KeyPrincipal:
    """`request.user` for a key-authenticated request: authenticated, but not a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, context: KeyContext):
        self.context = context

    def __str__(self) -> str:
        return self.context.credential_id

    def has_perm(self, perm, obj=None) -> bool:  # Django's API; keys act through scopes only
        return False


def context_from_row(key) -> KeyContext:
    plan = key.organization.plan
    return KeyContext(
        credential_pk=key.pk,
        credential_id=key.public_id,
        lookup_id=key.lookup_id,
        organization_id=key.organization_id,
        organization_public_id=key.organization.public_id,
        environment=key.environment,
        scopes=frozenset(key.scopes),
        created_by_id=key.created_by_id,
        rate_limit_per_hour=key.rate_limit_per_hour,
        plan_requests_per_hour=plan.requests_per_hour,
        plan_burst=plan.burst,
        digest=key.digest,
        pepper_version=key.pepper_version,
        previous_digest=key.previous_digest,
        previous_pepper_version=key.previous_pepper_version,
        previous_valid_until=_epoch(key.previous_valid_until),
        expires_at=_epoch(key.expires_at),
        revoked_at=_epoch(key.revoked_at),
        allowed_networks=tuple(ipaddress.ip_network(cidr, strict=False) for cidr in key.allowed_ips),
        allowed_countries=frozenset(code.upper() for code in key.allowed_countries),
        loaded_at=time.monotonic(),
    )


class KeyCache:
    """A small LRU of key contexts by lookup id, with a TTL; one per process."""

    def __init__(self, max_entries: int = CACHE_MAX_ENTRIES):
        self._entries: OrderedDict[str, tuple[float, KeyContext | None]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, lookup_id: str, *, refresh: bool = False) -> KeyContext | None:
        now = time.monotonic()
        if not refresh:
            with self._lock:
                hit = self._entries.get(lookup_id)
                if hit is not None and hit[0] > now:
                    self._entries.move_to_end(lookup_id)
                    return hit[1]
        context = self._load(lookup_id)
        ttl = settings.APIKEY_CACHE_TTL if context is not None else NEGATIVE_TTL
        with self._lock:
            self._entries[lookup_id] = (now + ttl, context)
            self._entries.move_to_end(lookup_id)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return context

    def invalidate(self, lookup_id: str) -> None:
        with self._lock:
            self._entries.pop(lookup_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @staticmethod
    def _load(lookup_id: str) -> KeyContext | None:
        from apikeys.models import ApiKey

        key = ApiKey.objects.select_related("organization__plan").filter(lookup_id=lookup_id).first()
        return context_from_row(key) if key is not None else None


key_cache = KeyCache()


def _unauthenticated(detail: str, slug: str, title: str) -> ProblemException:
    return ProblemException(
        status_code=401,
        detail=detail,
        slug=slug,
        title=title,
        headers={"WWW-Authenticate": 'Bearer realm="api"'},
    )


def invalid_key(detail: str) -> ProblemException:
    return _unauthenticated(detail, "invalid-api-key", "Invalid API key")


for _slug, _title, _help in (
    ("invalid-api-key", "Invalid API key", "The value is not one of our keys: check for a typo or a truncated paste."),
    ("revoked-api-key", "Revoked API key", "The key was revoked; create or rotate a key in the portal."),
    ("expired-api-key", "Expired API key", "The key passed its expiry date; extend it or create a new one."),
    ("rotated-api-key", "Rotated API key", "The key was rotated and its previous secret's grace period is over."),
    ("ip-not-allowed", "IP address not allowed", "The key has an IP allowlist that does not include the caller."),
    ("country-not-allowed", "Country not allowed", "The key has a country allowlist that excludes the caller."),
    ("insufficient-scope", "Missing scope", "The credential lacks a scope this endpoint requires."),
):
    register_problem_type(_slug, _title, _help)


def revoked_key() -> ProblemException:
    return _unauthenticated("This API key has been revoked.", "revoked-api-key", "Revoked API key")


def _matches(context: KeyContext, secret: str, *, now: float) -> str:
    """ "current", "previous" (rotated, within grace), "expired-previous" or "" (no match)."""
    ring = pepper_ring()
    pepper = ring.get(context.pepper_version)
    if pepper is not None and keyfmt.verify(secret, pepper, context.digest):
        return "current"
    if context.previous_digest:
        old_pepper = ring.get(context.previous_pepper_version)
        if old_pepper is not None and keyfmt.verify(secret, old_pepper, context.previous_digest):
            valid_until = context.previous_valid_until or 0.0
            return "previous" if now < valid_until else "expired-previous"
    return ""


def presented_key(request) -> str | None:
    """The raw key from `Authorization: Bearer` or `X-API-Key`, None when neither is there."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            value = value.strip()
            if not value or " " in value:
                raise invalid_key("The Authorization header must be `Bearer <key>` with a single key.")
            return value
    api_key = request.META.get("HTTP_X_API_KEY")
    if api_key is not None:
        api_key = api_key.strip()
        if not api_key or " " in api_key:
            raise invalid_key("The X-API-Key header must hold a single key.")
        return api_key
    return None


def client_ip_address(request) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return None


def authenticate_key(raw: str, *, ip, country: str = "") -> KeyContext:
    """Check a presented key; raise a 401/403 problem or return its context."""
    try:
        parsed = keyfmt.parse_key(raw)
    except keyfmt.KeyFormatError as exc:
        raise invalid_key(str(exc)) from None
    context = key_cache.get(parsed.lookup_id)
    if context is None:
        raise invalid_key("No API key matches this value.")
    now = time.time()
    match = _matches(context, parsed.secret, now=now)
    if not match and time.monotonic() - context.loaded_at > REFRESH_AFTER_MISMATCH:
        # Another process may have rotated this key after we cached it.
        context = key_cache.get(parsed.lookup_id, refresh=True)
        match = _matches(context, parsed.secret, now=now) if context is not None else ""
    if not match or context is None:
        raise invalid_key("No API key matches this value.")
    if match == "expired-previous":
        raise _unauthenticated(
            "This key was rotated and its previous secret is no longer valid; use the new secret.",
            "rotated-api-key",
            "Rotated API key",
        )
    if context.environment != parsed.environment:  # a row cannot disagree with its own prefix, but be strict
        raise invalid_key("No API key matches this value.")
    if context.revoked_at is not None:
        raise revoked_key()
    if context.expires_at is not None and now >= context.expires_at:
        raise _unauthenticated("This API key has expired.", "expired-api-key", "Expired API key")
    if context.allowed_networks and (ip is None or not any(ip in net for net in context.allowed_networks)):
        raise ProblemException(
            status_code=403,
            detail=f"This API key may not be used from {ip}; the address is not in its IP allowlist.",
            slug="ip-not-allowed",
            title="IP address not allowed",
        )
    if context.allowed_countries and country not in context.allowed_countries:
        where = f"from {country}" if country else f"from {ip}, whose country is unknown"
        raise ProblemException(
            status_code=403,
            detail=f"This API key may not be used {where}; allowed: {', '.join(sorted(context.allowed_countries))}.",
            slug="country-not-allowed",
            title="Country not allowed",
        )
    return context


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer pk_...` or `X-API-Key: pk_...`; `request.auth` becomes a KeyContext."""

    def authenticate(self, request):
        raw = presented_key(request)
        if raw is None:
            return None
        ip = client_ip_address(request)
        # The capture record carries the country too, so look it up once here.
        country = request._request.country = country_of(ip)
        context = authenticate_key(raw, ip=ip, country=country)
        return KeyPrincipal(context), context

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


# ==== OAuth 2.0 access tokens ====
# `Authorization: Bearer oat_...` ends in the same KeyContext as an API key, so the scope
# check, the rate limit and the capture treat both alike. The token row is cached per
# process like a key row; revocation still wins within a second because deleting a token
# sets the same Redis revocation marker (lookup id `oauth:<token pk>`) that the rate-limit
# round trip checks (apikeys.oauth.publish_token_revocation). docs/decisions.md, "OAuth 2.0".

ACCESS_TOKEN_PREFIX = "oat_"

register_problem_type(
    "revoked-access-token",
    "Revoked access token",
    "The access token was revoked (by the client, an uninstall or a deleted application); get a new one.",
)

register_problem_type(
    "invalid-access-token",
    "Invalid access token",
    "The OAuth access token is unknown, revoked or malformed; get a new one from /oauth/token.",
)
register_problem_type(
    "expired-access-token",
    "Expired access token",
    "OAuth access tokens live one hour; get a new one from /oauth/token (or refresh it).",
)


def token_checksum(raw: str) -> str:
    """How DOT finds a token: its SHA-256, the only form stored at rest."""
    return hashlib.sha256(raw.encode()).hexdigest()


def token_lookup_id(token_pk: int) -> str:
    # Contains ":", which no API key lookup id can, so the revocation markers never collide.
    return f"oauth:{token_pk}"


def context_from_token(token) -> KeyContext | None:
    """The request context of an access token; None when it can no longer act.

    Scopes are what the token was granted, narrowed to the application's allowed scopes
    and, for a token a member approved, to what that member holds today: removing a
    member or narrowing their role takes effect on their tokens when the cache refreshes.
    A token issued under a delegated grant (a marketplace install) acts instead for the
    granting organisation, in the grant's environment, within the grant's scopes; the
    install belongs to that organisation, so it outlives the member who approved it,
    and a revoked grant's tokens act no more.
    `credential_pk` is the negated application pk, so per-credential limiter state and
    capture records never collide with an API key's pk.
    """
    from accounts.models import Membership
    from apikeys.models import DelegatedGrantCredential

    application = token.application
    if application is None:
        return None
    scopes = set(token.scope.split()) & set(application.allowed_scopes)
    credential = (
        DelegatedGrantCredential.objects.select_related("grant__organization__plan")
        .filter(checksum=token.token_checksum, kind=DelegatedGrantCredential.Kind.ACCESS)
        .first()
    )
    grant = credential.grant if credential is not None else None
    if grant is not None:
        if grant.revoked_at is not None or grant.application_id != application.pk:
            return None
        scopes &= set(grant.scopes)
        organization, environment = grant.organization, grant.environment
    else:
        if token.user_id is not None:
            membership = (
                Membership.objects.select_related("custom_role")
                .filter(user_id=token.user_id, organization_id=application.organization_id)
                .first()
            )
            if membership is None:
                return None
            scopes &= membership.permissions
        organization, environment = application.organization, application.environment
    plan = organization.plan
    return KeyContext(
        credential_pk=-application.pk,
        credential_id=application.public_id,
        lookup_id=token_lookup_id(token.pk),
        organization_id=organization.pk,
        organization_public_id=organization.public_id,
        environment=environment,
        scopes=frozenset(scopes),
        created_by_id=token.user_id or application.created_by_id,
        rate_limit_per_hour=None,
        plan_requests_per_hour=plan.requests_per_hour,
        plan_burst=plan.burst,
        digest="",
        pepper_version="",
        expires_at=_epoch(token.expires),
        loaded_at=time.monotonic(),
        grant_id=grant.pk if grant is not None else None,
    )


class TokenCache(KeyCache):
    """Access-token contexts by token checksum; same TTL, LRU and negative caching as keys."""

    @staticmethod
    def _load(checksum: str) -> KeyContext | None:
        from oauth2_provider.models import get_access_token_model

        token = (
            get_access_token_model()
            .objects.select_related("application__organization__plan")
            .filter(token_checksum=checksum)
            .first()
        )
        return context_from_token(token) if token is not None else None


token_cache = TokenCache()


def invalid_token(detail: str) -> ProblemException:
    return _unauthenticated(detail, "invalid-access-token", "Invalid access token")


def revoked_credential(context: KeyContext) -> ProblemException:
    """The answer when the revocation marker is set: worded for a key or for a token.

    A key's cached row is dropped at once; a token's cached context simply stays refused,
    since its marker outlives the cache entry."""
    if context.credential_pk < 0:  # OAuth access tokens carry the negated application pk
        return _unauthenticated(
            "This access token has been revoked; get a new one.", "revoked-access-token", "Revoked access token"
        )
    key_cache.invalidate(context.lookup_id)
    return revoked_key()


def authenticate_token(raw: str) -> KeyContext:
    """Check a presented access token; raise a 401 problem or return its context."""
    if len(raw) > 255:
        raise invalid_token("No access token matches this value.")
    context = token_cache.get(token_checksum(raw))
    if context is None:
        raise invalid_token("No access token matches this value; it may have been revoked.")
    if context.expires_at is not None and time.time() >= context.expires_at:
        raise _unauthenticated(
            "This access token has expired; get a new one.", "expired-access-token", "Expired access token"
        )
    return context


class OAuthTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer oat_...`; `request.auth` becomes the same KeyContext as for keys.

    Anything else (API keys, `X-API-Key`, no header) is left to the next class.
    """

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value.startswith(ACCESS_TOKEN_PREFIX):
            return None
        if " " in value:
            raise invalid_token("The Authorization header must be `Bearer <token>` with a single token.")
        request._request.country = country_of(client_ip_address(request))
        context = authenticate_token(value)
        return KeyPrincipal(context), context

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class OAuthTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apikeys.authentication.OAuthTokenAuthentication"
    name = "oauth2"

    def get_security_definition(self, auto_schema):
        return {
            "type": "oauth2",
            "flows": {
                "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}},
                "authorizationCode": {
                    "authorizationUrl": "/oauth/authorize",
                    "tokenUrl": "/oauth/token",
                    "refreshUrl": "/oauth/token",
                    "scopes": {},
                },
            },
        }
