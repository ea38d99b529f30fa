"""Support tickets: a requester's organisation owns each ticket; staff answer in the queue.

Status rules (docs/decisions.md, "Support tickets"): a requester's reply sets `open`, a
staff reply sets `waiting` (or `resolved` when staff say so), a resolved ticket may be
reopened until it is closed, and `closed` is final.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from portal.lib.ids import new_public_id


def new_ticket_id() -> str:
    return new_public_id("tkt")


def new_message_id() -> str:
    return new_public_id("tmsg")


def new_attachment_id() -> str:
    return new_public_id("tatt")


class SupportTicket(models.Model):
    class Category(models.TextChoices):
        API = "api", "API and integration"
        BILLING = "billing", "Billing"
        MARKETPLACE = "marketplace", "Marketplace"
        ACCOUNT = "account", "Account and access"
        PARTNER = "partner", "Partner programme"
        OTHER = "other", "Other"

    class Priority(models.IntegerChoices):
        # Integers so the staff queue sorts by urgency straight from an index.
        LOW = 1, "Low"
        NORMAL = 2, "Normal"
        HIGH = 3, "High"
        URGENT = 4, "Urgent"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        WAITING = "waiting", "Waiting on requester"
        RESOLVED = "resolved", "Resolved"
        CLOSED = "closed", "Closed"

    public_id = models.CharField(max_length=32, unique=True, default=new_ticket_id, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="support_tickets")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="support_tickets"
    )
    subject = models.CharField(max_length=200)
    category = models.CharField(max_length=16, choices=Category.choices, default=Category.OTHER)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_support_tickets",
        limit_choices_to={"is_staff": True},
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    last_reply_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            # The organisation's ticket list, newest activity first, optionally by status.
            models.Index(fields=["organization", "-updated_at"], name="ticket_org_updated"),
            models.Index(fields=["organization", "status", "-updated_at"], name="ticket_org_status_updated"),
            # The staff queue: by status, most urgent first, oldest first.
            models.Index(fields=["status", "-priority", "created_at"], name="ticket_queue"),
            models.Index(fields=["assignee", "status", "-priority", "created_at"], name="ticket_queue_assignee"),
            # Housekeeping: resolved tickets due to close.
            models.Index(fields=["status", "resolved_at"], name="ticket_resolved_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="closed", closed_at__isnull=False)
                | (~Q(status="closed") & Q(closed_at__isnull=True)),
                name="ticket_closed_at_iff_closed",
            ),
            models.CheckConstraint(
                condition=~Q(status="resolved") | Q(resolved_at__isnull=False),
                name="ticket_resolved_has_resolved_at",
            ),
            models.CheckConstraint(condition=Q(priority__gte=1, priority__lte=4), name="ticket_priority_range"),
            models.CheckConstraint(condition=~Q(subject=""), name="ticket_subject_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.subject}"

    @property
    def is_closed(self) -> bool:
        return self.status == self.Status.CLOSED


class TicketMessage(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=new_message_id, editable=False)
    ticket = models.ForeignKey(SupportTicket, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    is_staff_reply = models.BooleanField(default=False)
    is_internal = models.BooleanField(default=False, help_text="A staff-only note the requester never sees.")
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="ticket_message_thread")]
        constraints = [
            models.CheckConstraint(
                condition=Q(is_internal=False) | Q(is_staff_reply=True), name="ticket_note_is_staff"
            ),
            models.CheckConstraint(condition=~Q(body=""), name="ticket_message_not_empty"),
        ]

    def __str__(self) -> str:
        return f"Message on {self.ticket_id} at {self.created_at:%Y-%m-%d %H:%M}"


def attachment_path(instance: TicketAttachment, filename: str) -> str:
    # Our own name, never the uploader's: no path tricks, no executable extension.
    return f"support/{instance.message.ticket.public_id}/{instance.public_id}"


class TicketAttachment(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=new_attachment_id, editable=False)
    message = models.ForeignKey(TicketMessage, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=200)
    original_name = models.CharField(max_length=120)
    content_type = models.CharField(max_length=60, help_text="Sniffed from the bytes, not taken from the upload.")
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(size__gt=0), name="ticket_attachment_not_empty"),
            models.CheckConstraint(condition=~Q(original_name=""), name="ticket_attachment_has_name"),
        ]

    def __str__(self) -> str:
        return self.original_name
