"""The OAuth 2.0 authorization server's policy, plugged into django-oauth-toolkit.

- Scopes come from the permission catalogue; an application may ask only for its
  `allowed_scopes` (and gets all of them when it asks for none).
- At the authorization endpoint a member may approve only scopes their role holds in
  the application's organisation, or, for a delegated grant (a marketplace install), in
  the installing organisation, and never beyond the grant's scopes. Applications that
  back an integration are authorised only through the marketplace consent.
- Codes and tokens issued under a delegated grant are recorded by checksum
  (`DelegatedGrantCredential`), so the API acts for the granting organisation and an
  uninstall finds every token; a code of a revoked grant is refused.
- Access and refresh tokens carry a recognisable prefix (`oat_`, `ort_`), so the API's
  authentication can tell a token from an API key without a lookup, and secret
  scanners can recognise a leaked one.
- An authorization code presented twice revokes what the first exchange issued
  (RFC 6749 section 4.1.2).
- Deleting an access token, however it happens (RFC 7009 revocation, refresh rotation,
  an application deleted), sets the API's Redis revocation marker, so every process
  stops accepting the token within a second despite its per-process cache.
docs/decisions.md, "OAuth 2.0".
"""

from __future__ import annotations

import hashlib
import logging

from django.core.cache import cache
from django.db import transaction
from oauth2_provider.models import get_access_token_model, get_refresh_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes
from oauthlib.common import generate_token

from accounts.models import Membership, User
from accounts.permissions import CATALOGUE
from apikeys.models import DelegatedGrant, DelegatedGrantCredential

logger = logging.getLogger(__name__)

ACCESS_TOKEN_PREFIX = "oat_"
REFRESH_TOKEN_PREFIX = "ort_"
# How long a used authorization code is remembered, to revoke what it issued if it is
# replayed; codes live 60 s, so a replay after this is refused without the revocation.
USED_CODE_MEMORY_SECONDS = 3600


def generate_access_token(request, refresh_token: bool = False) -> str:
    return ACCESS_TOKEN_PREFIX + generate_token(40)  # 40 base62 characters, ~238 bits


def generate_refresh_token(request) -> str:
    return REFRESH_TOKEN_PREFIX + generate_token(48)


class CatalogueScopes(BaseScopes):
    """Every catalogue permission is a scope; an application is limited to its allowed ones."""

    def get_all_scopes(self) -> dict[str, str]:
        return {permission.code: permission.description for permission in CATALOGUE}

    def get_available_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        return list(application.allowed_scopes) if application is not None else []

    def get_default_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        return list(application.allowed_scopes) if application is not None else []


def member_permissions(user, organization_id: int) -> frozenset[str] | None:
    """What `user` holds in the organisation, or None when they are not a member."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    membership = (
        Membership.objects.select_related("custom_role").filter(user=user, organization_id=organization_id).first()
    )
    return membership.permissions if membership is not None else None


def allow_consent_redirect(response, application, redirect_uri: str):
    """Let the consent form's POST be answered by a redirect to the client's registered URI.

    The site's CSP has `form-action 'self'`, and browsers apply form-action to the
    redirects that follow a form submission, so without this the approval's redirect to
    another origin (every real client) is blocked. Only a URI registered for the
    application is added, as its origin.
    """
    from urllib.parse import urlsplit

    if application is None or not redirect_uri or redirect_uri not in application.redirect_uri_list:
        return response
    parts = urlsplit(redirect_uri)
    response._csp_update = {"form-action": [f"{parts.scheme}://{parts.netloc}"]}
    return response


def _code_key(code: str) -> str:
    return "oauth:code-used:" + hashlib.sha256(code.encode()).hexdigest()


def is_delegation_only(application) -> bool:
    """Whether the application backs a marketplace integration: it acts only for
    organisations that installed it, never through the plain consent for its own."""
    # The reverse one-to-one from marketplace.Integration; a missing row raises an
    # AttributeError subclass, so apikeys needs no import of the marketplace.
    return hasattr(application, "integration")


class PortalOAuth2Validator(OAuth2Validator):
    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs) -> bool:
        if not scopes or not super().validate_scopes(client_id, scopes, client, request, *args, **kwargs):
            return False
        # At the authorization endpoint's approval, oauthlib carries the approving member
        # as `request.user` (DOT sets it from the session); never grant beyond their role.
        user = getattr(request, "user", None)
        if isinstance(user, User) and getattr(request, "response_type", None):
            # The marketplace consent passes the install's grant in `credentials`, which
            # oauthlib copies onto the request.
            grant_id = getattr(request, "delegated_grant_id", None)
            if grant_id is not None:
                grant = DelegatedGrant.objects.filter(pk=grant_id, application=client, revoked_at__isnull=True).first()
                if grant is None or not set(scopes) <= set(grant.scopes):
                    return False
                organization_id = grant.organization_id
            elif is_delegation_only(client):
                return False
            else:
                organization_id = client.organization_id
            held = member_permissions(user, organization_id)
            if held is None or not set(scopes) <= held:
                return False
        return True

    def save_authorization_code(self, client_id, code, request, *args, **kwargs):
        super().save_authorization_code(client_id, code, request, *args, **kwargs)
        grant_id = getattr(request, "delegated_grant_id", None)
        if grant_id is not None:
            DelegatedGrantCredential.objects.create(
                grant_id=grant_id, kind=DelegatedGrantCredential.Kind.CODE, checksum=_checksum(code["code"])
            )

    def save_bearer_token(self, token, request, *args, **kwargs):
        super().save_bearer_token(token, request, *args, **kwargs)
        _record_grant_tokens(token, request)
        code = getattr(request, "code", None)
        if request.grant_type == "authorization_code" and code:
            cache.set(
                _code_key(code),
                # Checksums only: tokens are never stored in the clear, here or in the database.
                {
                    "access": _checksum(token.get("access_token", "")),
                    "refresh": _checksum(token["refresh_token"]) if token.get("refresh_token") else "",
                },
                timeout=USED_CODE_MEMORY_SECONDS,
            )

    def validate_code(self, client_id, code, client, request, *args, **kwargs) -> bool:
        if super().validate_code(client_id, code, client, request, *args, **kwargs):
            # A code issued under a grant revoked since (an uninstall) buys nothing.
            return not DelegatedGrantCredential.objects.filter(
                checksum=_checksum(code), grant__revoked_at__isnull=False
            ).exists()
        issued = cache.get(_code_key(code))
        if issued:
            # RFC 6749 4.1.2: a code used twice is refused, and the authorization server
            # SHOULD revoke the tokens previously issued from it.
            cache.delete(_code_key(code))
            revoke_issued_tokens(access=issued["access"], refresh=issued["refresh"])
            logger.warning("An authorization code of %s was replayed; its tokens are revoked.", client_id)
        return False


def _record_grant_tokens(token: dict, request) -> None:
    """Tokens issued from a grant's code, or from a refresh of a grant's refresh token,
    belong to the same grant."""
    if request.grant_type == "authorization_code":
        presented, kind = getattr(request, "code", None), DelegatedGrantCredential.Kind.CODE
    elif request.grant_type == "refresh_token":
        presented, kind = getattr(request, "refresh_token", None), DelegatedGrantCredential.Kind.REFRESH
    else:
        return
    if not presented:
        return
    grant_id = (
        DelegatedGrantCredential.objects.filter(checksum=_checksum(presented), kind=kind)
        .values_list("grant_id", flat=True)
        .first()
    )
    if grant_id is None:
        return
    issued = [(DelegatedGrantCredential.Kind.ACCESS, token.get("access_token"))]
    issued.append((DelegatedGrantCredential.Kind.REFRESH, token.get("refresh_token")))
    DelegatedGrantCredential.objects.bulk_create(
        [DelegatedGrantCredential(grant_id=grant_id, kind=k, checksum=_checksum(raw)) for k, raw in issued if raw],
        ignore_conflicts=True,  # a refresh within DOT's grace period answers the same tokens again
    )


def revoke_issued_tokens(*, access: str, refresh: str) -> None:
    """Revoke the access token and the refresh-token family with these checksums."""
    AccessToken, RefreshToken = get_access_token_model(), get_refresh_token_model()
    with transaction.atomic():
        if refresh:
            for refresh_token in RefreshToken.objects.filter(token_checksum=refresh):
                if refresh_token.token_family:
                    RefreshToken.revoke_family(refresh_token.token_family)
                else:
                    refresh_token.revoke()
        if access:
            for access_token in AccessToken.objects.filter(token_checksum=access):
                access_token.revoke()


def _checksum(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def publish_token_revocation(sender, instance, **kwargs) -> None:
    """post_delete of an access token: drop it from this process's cache, mark it revoked for all.

    Connected in apikeys/models.py. Expired tokens need no marker (the cached context
    carries the expiry), so the hourly purge writes nothing to Redis.
    """
    from django.utils import timezone

    from apikeys.authentication import token_cache, token_lookup_id
    from apikeys.ratelimit import limiter

    checksum, lookup_id = instance.token_checksum, token_lookup_id(instance.pk)
    if instance.expires is not None and instance.expires <= timezone.now():
        token_cache.invalidate(checksum)
        return

    def publish():
        token_cache.invalidate(checksum)
        limiter.mark_revoked(lookup_id)

    transaction.on_commit(publish)
