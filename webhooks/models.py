"""Webhook endpoints, the event outbox, deliveries (event x endpoint) and their attempts.

The database holds the delivery schedule: a pending delivery's `next_attempt_at` says
when it is due, `dispatched_until` is the dispatcher's lease (a lost task is handed out
again after it) and `sending_until` is the sender's lease (a second sender of the same
attempt backs off). docs/decisions.md, "Webhooks", tells why.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization
from portal.crypto import keyring
from portal.lib.ids import new_public_id

_SECRET_AD = b"webhook-endpoint-secret"


def new_endpoint_id() -> str:
    return new_public_id("whep")


def new_event_id() -> str:
    return new_public_id("evt")


def new_delivery_id() -> str:
    return new_public_id("msg")


def new_attempt_id() -> str:
    return new_public_id("whatt")


def new_receiver_token() -> str:
    return new_public_id("whrcv")


class Endpoint(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=new_endpoint_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_endpoints")
    livemode = models.BooleanField(default=False)
    url = models.URLField(max_length=2048)
    description = models.CharField(max_length=500, blank=True)
    # Event type names; empty means every type.
    event_types = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # AES-GCM tokens (portal.crypto.keyring()); we must read the secret back to sign.
    secret_encrypted = models.TextField(editable=False)
    previous_secret_encrypted = models.TextField(blank=True, editable=False)
    previous_secret_valid_until = models.DateTimeField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    rate_limit_per_second = models.PositiveIntegerField(null=True, blank=True)
    # Set by the first failed attempt after a success; cleared by any success.
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "livemode", "-created_at"], name="whep_org_mode_created"),
            models.Index(fields=["organization", "livemode", "enabled"], name="whep_org_mode_enabled"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(rate_limit_per_second__isnull=True) | Q(rate_limit_per_second__gt=0),
                name="whep_rate_limit_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.url

    @property
    def environment(self) -> str:
        return "live" if self.livemode else "test"

    def subscribes_to(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types

    def set_secret(self, secret: str) -> None:
        self.secret_encrypted = keyring().encrypt(secret, associated_data=_SECRET_AD)

    @property
    def secret(self) -> str:
        return keyring().decrypt(self.secret_encrypted, associated_data=_SECRET_AD)

    @property
    def previous_secret(self) -> str:
        if not self.previous_secret_encrypted:
            return ""
        return keyring().decrypt(self.previous_secret_encrypted, associated_data=_SECRET_AD)

    def signing_secrets(self, now=None) -> list[str]:
        """The current secret, and the previous one while its rotation grace lasts."""
        now = now or timezone.now()
        secrets = [self.secret]
        if (
            self.previous_secret_encrypted
            and self.previous_secret_valid_until
            and self.previous_secret_valid_until > now
        ):
            secrets.append(self.previous_secret)
        return secrets


class Event(models.Model):
    """The outbox: written in the same transaction as the change it describes."""

    public_id = models.CharField(max_length=32, unique=True, default=new_event_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_events")
    livemode = models.BooleanField(default=False)
    type = models.CharField(max_length=100)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    # Set once deliveries exist for every subscribed endpoint; the dispatcher sweeps
    # events whose on-commit fan-out never ran (a crash right after the commit).
    fanned_out_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "livemode", "-created_at"], name="whevt_org_mode_created"),
            models.Index(fields=["organization", "livemode", "type", "-created_at"], name="whevt_org_mode_type"),
            models.Index(fields=["created_at"], condition=Q(fanned_out_at__isnull=True), name="whevt_unfanned"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.public_id}"


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    public_id = models.CharField(max_length=32, unique=True, default=new_delivery_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    # Denormalised from the event for the delivery log's filters.
    event_type = models.CharField(max_length=100)
    livemode = models.BooleanField(default=False)
    # The `webhook-id` header: the event's id, the same on every retry and resend, so
    # receivers can use it as their idempotency key.
    webhook_id = models.CharField(max_length=32)
    is_resend = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    dispatched_until = models.DateTimeField(null=True, blank=True, editable=False)
    sending_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            # The dispatcher's query: due pending deliveries, oldest first.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="whdel_due"),
            models.Index(fields=["endpoint", "-created_at"], name="whdel_endpoint_created"),
            models.Index(fields=["endpoint", "status", "-created_at"], name="whdel_endpoint_status"),
            models.Index(fields=["organization", "livemode", "-created_at"], name="whdel_org_mode_created"),
            models.Index(fields=["organization", "status", "-created_at"], name="whdel_org_status_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "endpoint"], condition=Q(is_resend=False), name="whdel_one_original_per_endpoint"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "succeeded", "failed"]), name="whdel_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(next_attempt_at__isnull=False), name="whdel_pending_is_scheduled"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} -> {self.endpoint_id} ({self.status})"


class Attempt(models.Model):
    class ErrorClass(models.TextChoices):
        NONE = "", "None"
        DNS = "dns", "DNS"
        CONNECTION = "connection", "Connection"
        TLS = "tls", "TLS"
        TIMEOUT = "timeout", "Timeout"
        BLOCKED = "blocked", "Blocked address"
        REDIRECT = "3xx", "3xx redirect"
        CLIENT = "4xx", "4xx client error"
        SERVER = "5xx", "5xx server error"
        PROTOCOL = "protocol", "Invalid HTTP response"

    public_id = models.CharField(max_length=32, unique=True, default=new_attempt_id, editable=False)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    url = models.URLField(max_length=2048)
    request_headers = models.JSONField(default=dict)
    request_body = models.TextField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.TextField(blank=True)  # the first 4 KB
    error_class = models.CharField(max_length=10, choices=ErrorClass.choices, blank=True)
    error = models.CharField(max_length=300, blank=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["delivery", "-started_at"], name="whatt_delivery_started")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"


class Receiver(models.Model):
    """The built-in test receiver: one portal-hosted URL per organisation."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="webhook_receiver")
    token = models.CharField(max_length=40, unique=True, default=new_receiver_token, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Test receiver of {self.organization}"


class ReceivedRequest(models.Model):
    receiver = models.ForeignKey(Receiver, on_delete=models.CASCADE, related_name="requests")
    received_at = models.DateTimeField(default=timezone.now)
    headers = models.JSONField(default=dict)
    body = models.TextField(blank=True)
    webhook_id = models.CharField(max_length=64, blank=True)
    # Which endpoint's secret verified the signature, if any.
    verified_endpoint = models.ForeignKey(Endpoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["receiver", "-received_at"], name="whrcv_receiver_received")]

    def __str__(self) -> str:
        return f"{self.webhook_id or 'request'} at {self.received_at:%Y-%m-%d %H:%M:%S}"
