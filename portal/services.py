"""Support tickets' write path: open, reply, resolve, reopen, assign, change, close and the
auto-close housekeeping. Pages, admin and the beat task call these and nothing else.

Who hears about what (docs/decisions.md, "Support tickets"):
- a new ticket e-mails the staff support address;
- a requester's reply e-mails the assignee, or the staff address while unassigned;
- a staff reply e-mails the requester and the organisation's members who wrote on it;
- an internal note e-mails no customer, and is audited without the organisation so the
  organisation's audit log does not reveal it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership, Organization, User
from accounts.services import SYSTEM, RequestMeta, audit_record
from portal.emails import absolute_url, send_templated_email
from portal.lib.filetypes import FileTypeError, sniff
from portal.models import SupportTicket, TicketAttachment, TicketMessage

MAX_ATTACHMENTS = 3
MAX_BODY = 20_000
Status = SupportTicket.Status


@dataclass(frozen=True)
class CheckedFile:
    """An upload that passed `attachments_check`: its bytes, sniffed type and clean name."""

    name: str
    content_type: str
    data: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)


def _size_label(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size >= 1024 * 1024 else f"{size // 1024} KB"


def attachments_check(files: Sequence) -> list[CheckedFile]:
    """Validate uploaded files (count, size, real type); raise ValidationError on "attachments"."""
    files = [f for f in files if f]
    if len(files) > MAX_ATTACHMENTS:
        raise ValidationError({"attachments": [f"Attach at most {MAX_ATTACHMENTS} files to one message."]})
    limit = settings.SUPPORT_ATTACHMENT_MAX_BYTES
    checked: list[CheckedFile] = []
    errors: list[str] = []
    for upload in files:
        name = getattr(upload, "name", "") or "attachment"
        size = getattr(upload, "size", None)
        if size is not None and size > limit:
            errors.append(f"“{name}” is larger than {_size_label(limit)}.")
            continue
        data = upload.read(limit + 1)
        if len(data) > limit:
            errors.append(f"“{name}” is larger than {_size_label(limit)}.")
            continue
        try:
            sniffed = sniff(name, data)
        except FileTypeError as exc:
            errors.append(str(exc))
            continue
        checked.append(
            CheckedFile(
                name=sniffed.name,
                content_type=sniffed.content_type,
                data=data,
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    if errors:
        raise ValidationError({"attachments": errors})
    return checked


def _clean_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": ["Write a message."]})
    if len(body) > MAX_BODY:
        raise ValidationError({"body": [f"Keep the message under {MAX_BODY:,} characters."]})
    return body


def _store_attachments(message: TicketMessage, attachments: Sequence[CheckedFile]) -> None:
    # Callers run every check before this, so a file is written only when the row will be;
    # a crash between the two leaves an orphan file that no row points at (harmless).
    for checked in attachments:
        attachment = TicketAttachment(
            message=message,
            original_name=checked.name,
            content_type=checked.content_type,
            size=checked.size,
            sha256=checked.sha256,
        )
        attachment.file.save(attachment.public_id, ContentFile(checked.data), save=False)
        attachment.save()


def _ticket_link(ticket: SupportTicket, *, staff: bool) -> str:
    return absolute_url(f"/support/staff/{ticket.public_id}/" if staff else f"/support/{ticket.public_id}/")


def _email_context(ticket: SupportTicket, message: TicketMessage | None, *, staff_link: bool) -> dict:
    return {
        "ticket": ticket,
        "subject": ticket.subject,
        "public_id": ticket.public_id,
        "organization": ticket.organization.name,
        "author": (message.author.get_full_name() if message and message.author else ""),
        "body": message.body if message else "",
        "status": ticket.get_status_display(),
        "priority": ticket.get_priority_display(),
        "category": ticket.get_category_display(),
        "attachment_count": len(message.attachments.all()) if message else 0,
        "link": _ticket_link(ticket, staff=staff_link),
    }


def _customer_recipients(ticket: SupportTicket, *, exclude: User | None) -> list[str]:
    """The requester and the organisation's current members who wrote on the ticket."""
    writers = set(
        TicketMessage.objects.filter(ticket=ticket, is_staff_reply=False, author__isnull=False).values_list(
            "author_id", flat=True
        )
    )
    if ticket.requester_id:
        writers.add(ticket.requester_id)
    members = Membership.objects.filter(
        organization_id=ticket.organization_id, user_id__in=writers, user__is_active=True
    ).select_related("user")
    emails = sorted({m.user.email for m in members if exclude is None or m.user_id != exclude.pk})
    return emails


def _staff_recipients(ticket: SupportTicket) -> list[str]:
    if ticket.assignee_id and ticket.assignee.is_active:
        return [ticket.assignee.email]
    return [settings.SUPPORT_STAFF_EMAIL]


def ticket_create(
    *,
    organization: Organization,
    requester: User,
    subject: str,
    category: str,
    priority: int,
    body: str,
    attachments: Sequence[CheckedFile] = (),
    meta: RequestMeta = SYSTEM,
) -> SupportTicket:
    subject = " ".join((subject or "").split())
    if not subject:
        raise ValidationError({"subject": ["Give the ticket a subject."]})
    body = _clean_body(body)
    if len(attachments) > MAX_ATTACHMENTS:
        raise ValidationError({"attachments": [f"Attach at most {MAX_ATTACHMENTS} files to one message."]})
    now = timezone.now()
    with transaction.atomic():
        ticket = SupportTicket.objects.create(
            organization=organization,
            requester=requester,
            subject=subject[:200],
            category=category,
            priority=priority,
            status=Status.OPEN,
            created_at=now,
            updated_at=now,
            last_reply_at=now,
        )
        message = TicketMessage.objects.create(ticket=ticket, author=requester, body=body, created_at=now)
        _store_attachments(message, attachments)
        audit_record(
            action="support.ticket_opened",
            actor=requester,
            organization=organization,
            meta=meta,
            target=ticket,
            details={"subject": ticket.subject, "category": category, "priority": int(priority)},
        )
        send_templated_email(
            to=[settings.SUPPORT_STAFF_EMAIL],
            template="support_ticket_opened",
            context=_email_context(ticket, message, staff_link=True),
        )
    return ticket


def _reopen_deadline(ticket: SupportTicket) -> datetime | None:
    if ticket.status != Status.RESOLVED or ticket.resolved_at is None:
        return None
    return ticket.resolved_at + timedelta(days=settings.SUPPORT_RESOLVED_CLOSE_DAYS)


def ticket_can_reopen(*, ticket: SupportTicket, now: datetime | None = None) -> bool:
    deadline = _reopen_deadline(ticket)
    return deadline is not None and (now or timezone.now()) < deadline


def _lock(ticket: SupportTicket) -> SupportTicket:
    """Re-read the ticket under a row lock so concurrent replies apply their rules in turn."""
    locked = SupportTicket.objects.select_for_update().get(pk=ticket.pk)
    # Setting the *_id attribute drops a stale cached assignee (Django compares the value).
    for field in ("status", "assignee_id", "priority", "resolved_at", "closed_at", "updated_at", "last_reply_at"):
        setattr(ticket, field, getattr(locked, field))
    return ticket


def _set_status(ticket: SupportTicket, status: str, now: datetime) -> list[str]:
    """Move to `status`, keeping resolved_at/closed_at consistent; returns changed fields."""
    ticket.status = status
    fields = ["status"]
    if status == Status.RESOLVED:
        ticket.resolved_at = now
        fields.append("resolved_at")
    elif status in (Status.OPEN, Status.WAITING) and ticket.resolved_at is not None:
        ticket.resolved_at = None
        fields.append("resolved_at")
    if status == Status.CLOSED:
        ticket.closed_at = now
        fields.append("closed_at")
    return fields


def ticket_reply(
    *,
    ticket: SupportTicket,
    author: User,
    body: str,
    attachments: Sequence[CheckedFile] = (),
    staff: bool = False,
    internal: bool = False,
    resolve: bool = False,
    meta: RequestMeta = SYSTEM,
) -> TicketMessage:
    """Add a message. `staff` says which side writes (the staff pages pass True for staff
    users only); an internal note changes no status and e-mails no customer."""
    if internal and not staff:
        raise ValidationError({"internal": ["Only staff can write internal notes."]})
    if staff and not author.is_staff:
        raise ValidationError("Only staff can answer as staff.")
    body = _clean_body(body)
    if len(attachments) > MAX_ATTACHMENTS:
        raise ValidationError({"attachments": [f"Attach at most {MAX_ATTACHMENTS} files to one message."]})
    now = timezone.now()
    with transaction.atomic():
        _lock(ticket)
        if ticket.status == Status.CLOSED:
            raise ValidationError({"body": ["This ticket is closed. Open a new ticket to continue."]})
        fields = ["updated_at"]
        if not staff and ticket.status == Status.RESOLVED and not ticket_can_reopen(ticket=ticket, now=now):
            raise ValidationError({"body": ["This ticket was resolved too long ago to reopen. Open a new ticket."]})
        if not internal:
            new_status = (Status.RESOLVED if resolve else Status.WAITING) if staff else Status.OPEN
            if new_status != ticket.status:
                fields += _set_status(ticket, new_status, now)
            ticket.last_reply_at = now
            fields.append("last_reply_at")
        ticket.updated_at = now
        ticket.save(update_fields=fields)
        message = TicketMessage.objects.create(
            ticket=ticket, author=author, body=body, is_staff_reply=staff, is_internal=internal, created_at=now
        )
        _store_attachments(message, attachments)
        audit_record(
            action="support.note_added" if internal else "support.reply_added",
            actor=author,
            # Internal notes stay out of the organisation's audit log (staff see them in admin).
            organization=None if internal else ticket.organization,
            meta=meta,
            target=ticket,
            details={"staff": staff, "status": ticket.status, "attachments": len(attachments)},
        )
        if internal:
            return message
        if staff:
            send_templated_email(
                to=_customer_recipients(ticket, exclude=None),
                template="support_staff_reply",
                context=_email_context(ticket, message, staff_link=False),
            )
        else:
            send_templated_email(
                to=_staff_recipients(ticket),
                template="support_requester_reply",
                context=_email_context(ticket, message, staff_link=True),
            )
    return message


def ticket_resolve(*, ticket: SupportTicket, actor: User, meta: RequestMeta = SYSTEM) -> SupportTicket:
    now = timezone.now()
    with transaction.atomic():
        _lock(ticket)
        if ticket.status == Status.CLOSED:
            raise ValidationError("This ticket is closed.")
        if ticket.status == Status.RESOLVED:
            return ticket
        fields = _set_status(ticket, Status.RESOLVED, now)
        ticket.updated_at = now
        ticket.save(update_fields=[*fields, "updated_at"])
        audit_record(
            action="support.ticket_resolved", actor=actor, organization=ticket.organization, meta=meta, target=ticket
        )
    return ticket


def ticket_reopen(*, ticket: SupportTicket, actor: User, meta: RequestMeta = SYSTEM) -> SupportTicket:
    now = timezone.now()
    with transaction.atomic():
        _lock(ticket)
        if ticket.status != Status.RESOLVED:
            raise ValidationError("Only a resolved ticket can be reopened.")
        if not ticket_can_reopen(ticket=ticket, now=now):
            raise ValidationError(
                f"Resolved tickets can be reopened for {settings.SUPPORT_RESOLVED_CLOSE_DAYS} days. "
                "Open a new ticket instead."
            )
        fields = _set_status(ticket, Status.OPEN, now)
        ticket.updated_at = now
        ticket.save(update_fields=[*fields, "updated_at"])
        audit_record(
            action="support.ticket_reopened", actor=actor, organization=ticket.organization, meta=meta, target=ticket
        )
    return ticket


def ticket_assign(
    *, ticket: SupportTicket, assignee: User | None, actor: User, meta: RequestMeta = SYSTEM
) -> SupportTicket:
    if not actor.is_staff:
        raise ValidationError("Only staff assign tickets.")
    if assignee is not None and not (assignee.is_staff and assignee.is_active):
        raise ValidationError({"assignee": ["Tickets can only be assigned to active staff."]})
    with transaction.atomic():
        _lock(ticket)
        if ticket.assignee_id == (assignee.pk if assignee else None):
            return ticket
        ticket.assignee = assignee
        ticket.updated_at = timezone.now()
        ticket.save(update_fields=["assignee", "updated_at"])
        audit_record(
            action="support.ticket_assigned",
            actor=actor,
            organization=None,
            meta=meta,
            target=ticket,
            details={"assignee": assignee.email if assignee else None},
        )
    return ticket


def ticket_update(
    *, ticket: SupportTicket, actor: User, status: str, priority: int, meta: RequestMeta = SYSTEM
) -> SupportTicket:
    """Staff change the status or priority. Closed is final."""
    if not actor.is_staff:
        raise ValidationError("Only staff change a ticket's status or priority.")
    if status not in Status.values:
        raise ValidationError({"status": ["Pick a status."]})
    if int(priority) not in SupportTicket.Priority.values:
        raise ValidationError({"priority": ["Pick a priority."]})
    now = timezone.now()
    with transaction.atomic():
        _lock(ticket)
        if ticket.status == Status.CLOSED:
            raise ValidationError({"status": ["This ticket is closed; closed tickets cannot change."]})
        fields: list[str] = []
        changes: dict[str, list] = {}
        if status != ticket.status:
            changes["status"] = [ticket.status, status]
            fields += _set_status(ticket, status, now)
        if int(priority) != ticket.priority:
            changes["priority"] = [ticket.priority, int(priority)]
            ticket.priority = int(priority)
            fields.append("priority")
        if not fields:
            return ticket
        ticket.updated_at = now
        ticket.save(update_fields=[*fields, "updated_at"])
        audit_record(
            action="support.ticket_updated",
            actor=actor,
            organization=ticket.organization,
            meta=meta,
            target=ticket,
            details=changes,
        )
    return ticket


def ticket_close(*, ticket: SupportTicket, actor: User, meta: RequestMeta = SYSTEM) -> SupportTicket:
    return ticket_update(ticket=ticket, actor=actor, status=Status.CLOSED, priority=ticket.priority, meta=meta)


def tickets_auto_close(*, now: datetime | None = None) -> int:
    """Close tickets resolved more than SUPPORT_RESOLVED_CLOSE_DAYS ago. One conditional
    update, so a duplicate run (or a reopen racing it) is harmless."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.SUPPORT_RESOLVED_CLOSE_DAYS)
    return SupportTicket.objects.filter(status=Status.RESOLVED, resolved_at__lt=cutoff).update(
        status=Status.CLOSED, closed_at=now, updated_at=now
    )
