from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.signals import post_delete
from django.utils import timezone
from oauth2_provider.models import AbstractApplication
from oauth2_provider.settings import oauth2_settings

from accounts.models import Organization
from portal.lib.ids import new_public_id
from portal.lib.keys import PREFIXES


def new_key_id() -> str:
    return new_public_id("key")


def new_template_id() -> str:
    return new_public_id("ktpl")


class Environment(models.TextChoices):
    LIVE = "live", "Live"
    TEST = "test", "Test"


class ApiKey(models.Model):
    """A machine credential. Only an HMAC digest of its secret is stored (docs/decisions.md)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    public_id = models.CharField(max_length=32, unique=True, default=new_key_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    environment = models.CharField(max_length=4, choices=Environment.choices)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    lookup_id = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    pepper_version = models.CharField(max_length=16, editable=False)
    last4 = models.CharField(max_length=4, editable=False)
    # The secret replaced by the last rotation keeps working until previous_valid_until.
    previous_digest = models.CharField(max_length=64, blank=True, editable=False)
    previous_pepper_version = models.CharField(max_length=16, blank=True, editable=False)
    previous_valid_until = models.DateTimeField(null=True, blank=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    allowed_ips = models.JSONField(default=list, blank=True, help_text="IPv4/IPv6 CIDRs; empty allows any address.")
    allowed_countries = models.JSONField(
        default=list, blank=True, help_text="ISO 3166-1 alpha-2 codes; empty allows any country."
    )
    rate_limit_per_hour = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)
    # The tightest expiry notice sent (30, 7 or 1 days before); reset when the expiry moves.
    expiry_notice_days = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="apikey_org_created"),
            models.Index(fields=["organization", "environment", "-created_at"], name="apikey_org_env_created"),
            models.Index(fields=["organization", "name"], name="apikey_org_name"),
            models.Index(fields=["expires_at"], condition=Q(revoked_at__isnull=True), name="apikey_expiring"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(environment__in=["live", "test"]), name="apikey_environment_valid"),
            models.CheckConstraint(
                condition=Q(rate_limit_per_hour__isnull=True) | Q(rate_limit_per_hour__gt=0),
                name="apikey_rate_limit_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix}…{self.last4})"

    @property
    def display_prefix(self) -> str:
        return PREFIXES[self.environment] + self.lookup_id

    @property
    def livemode(self) -> bool:
        return self.environment == Environment.LIVE

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return self.Status.REVOKED
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.Status.ACTIVE


class KeyTemplate(models.Model):
    """A named preset of scopes, expiry, limits and IP rules, picked when creating a key."""

    public_id = models.CharField(max_length=32, unique=True, default=new_template_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="key_templates")
    name = models.CharField(max_length=100)
    environment = models.CharField(max_length=4, choices=Environment.choices, blank=True)
    scopes = models.JSONField(default=list)
    expires_in_days = models.PositiveIntegerField(null=True, blank=True)
    rate_limit_per_hour = models.PositiveIntegerField(null=True, blank=True)
    allowed_ips = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="keytemplate_unique_name_per_org")]

    def __str__(self) -> str:
        return self.name


class KeyPolicy(models.Model):
    """Per-organisation rules for keys; today the naming policy."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="key_policy")
    name_pattern = models.CharField(
        max_length=200, blank=True, help_text="A regular expression every key name must match in full."
    )
    name_message = models.CharField(max_length=200, blank=True, help_text="Shown when a name does not match.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "key policies"

    def __str__(self) -> str:
        return f"Key policy of {self.organization}"


class RequestLog(models.Model):
    """One API request, written in bulk from the capture buffer, never on the request path."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="request_logs")
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="requests")
    credential_id = models.CharField(max_length=32, blank=True, help_text="The public id of the credential used.")
    livemode = models.BooleanField(default=False)
    route = models.CharField(max_length=200)
    method = models.CharField(max_length=10)
    status = models.PositiveSmallIntegerField()
    latency_ms = models.PositiveIntegerField()
    request_bytes = models.PositiveIntegerField(default=0)
    response_bytes = models.PositiveIntegerField(default=0)
    ip = models.GenericIPAddressField(null=True, blank=True)
    country = models.CharField(max_length=2, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    grant = models.ForeignKey(
        "DelegatedGrant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="requests",
        help_text="Set when the call was made with a token another organisation granted (a marketplace install).",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["grant", "created_at"], name="reqlog_grant_time"),
            models.Index(fields=["organization", "-created_at"], name="reqlog_org_time"),
            models.Index(fields=["api_key", "-created_at"], name="reqlog_key_time"),
            models.Index(fields=["created_at"], name="reqlog_time"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.route} {self.status}"


class IdempotencyRecord(models.Model):
    """The first answer to a POST with an `Idempotency-Key`, kept 24 h per caller (portal/api.py)."""

    caller = models.CharField(max_length=64, help_text="The credential's public id, or user:<id> for a session.")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty while the request runs.")
    body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["caller", "key"], name="idempotency_unique_caller_key")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return f"{self.caller} {self.key}"


# ==== OAuth applications ====


def new_oauth_application_id() -> str:
    return new_public_id("app")


class OAuthApplication(AbstractApplication):
    """An OAuth 2.0 client owned by an organisation; django-oauth-toolkit's application model.

    Confidential clients only, with either the client credentials grant or the
    authorization code grant with PKCE. DOT hashes `client_secret` on save; the secret is
    shown once, at creation or rotation. `allowed_scopes` bounds every token the
    application can get; authorization-code tokens are further bounded by what the
    approving member holds (docs/decisions.md, "OAuth 2.0"). DOT's own `user` field is
    left empty: it would delete the organisation's application with its creator.
    """

    public_id = models.CharField(max_length=32, unique=True, default=new_oauth_application_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="oauth_applications")
    environment = models.CharField(max_length=4, choices=Environment.choices)
    description = models.CharField(max_length=500, blank=True)
    allowed_scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    secret_rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OAuth application"
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created"], name="oauthapp_org_created"),
            models.Index(fields=["organization", "environment", "-created"], name="oauthapp_org_env_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(environment__in=["live", "test"]), name="oauthapp_environment_valid"),
        ]

    @property
    def livemode(self) -> bool:
        return self.environment == Environment.LIVE

    @property
    def redirect_uri_list(self) -> list[str]:
        return self.redirect_uris.split()

    def get_allowed_schemes(self) -> list[str]:
        # Live applications redirect over https only; test ones may also use http, which
        # the services restrict to loopback hosts (127.0.0.1, localhost).
        return ["https"] if self.livemode else ["https", "http"]


def _on_access_token_deleted(sender, instance, **kwargs) -> None:
    from apikeys.oauth import publish_token_revocation

    publish_token_revocation(sender, instance, **kwargs)


# However a token goes (RFC 7009 revocation, refresh rotation, an application deleted),
# the API stops accepting it on every process (apikeys.oauth.publish_token_revocation).
post_delete.connect(
    _on_access_token_deleted, sender=oauth2_settings.ACCESS_TOKEN_MODEL, dispatch_uid="apikeys-token-revocation"
)


# ==== Delegated grants ====


def new_delegated_grant_id() -> str:
    return new_public_id("dgr")


class DelegatedGrant(models.Model):
    """Authority one organisation gives another organisation's OAuth application.

    A marketplace install is one: the developer's organisation (`organization`) lets the
    partner's application act on its data, in one environment, within `scopes` (never
    more than the granting member held). Tokens issued under the grant act as the
    granting organisation, not as the application's owner, and their calls are
    attributed to the grant in the request capture. Revoking the grant deletes every
    token issued under it at once. docs/decisions.md, "Marketplace installs".
    """

    public_id = models.CharField(max_length=32, unique=True, default=new_delegated_grant_id, editable=False)
    application = models.ForeignKey(OAuthApplication, on_delete=models.CASCADE, related_name="delegated_grants")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="delegated_grants")
    environment = models.CharField(max_length=4, choices=Environment.choices)
    scopes = models.JSONField(default=list)
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="dgrant_org_created"),
            models.Index(fields=["application", "-created_at"], name="dgrant_app_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(environment__in=["live", "test"]), name="dgrant_environment_valid"),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def livemode(self) -> bool:
        return self.environment == Environment.LIVE

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class DelegatedGrantCredential(models.Model):
    """An authorization code, access token or refresh token issued under a grant, by checksum.

    DOT's own rows hold the token (as a SHA-256 checksum); this row says which grant it
    belongs to, so the token acts for the granting organisation and an uninstall finds
    every token to revoke.
    """

    class Kind(models.TextChoices):
        CODE = "code", "Authorization code"
        ACCESS = "access", "Access token"
        REFRESH = "refresh", "Refresh token"

    grant = models.ForeignKey(DelegatedGrant, on_delete=models.CASCADE, related_name="credentials")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    checksum = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the code or token.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["grant", "kind"], name="dgrantcred_grant_kind")]

    def __str__(self) -> str:
        return f"{self.kind} of {self.grant}"
