"""Reads for support tickets. Customers reach a ticket or an attachment only through
`ticket_get_for_actor` / `attachment_get_for_actor`, scoped to their organisation: any
other organisation's id is a 404. Staff (is_staff) pass `staff=True` and see every ticket."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from accounts.models import Organization, User
from portal.models import SupportTicket, TicketAttachment, TicketMessage

Status = SupportTicket.Status
ACTIVE = (Status.OPEN, Status.WAITING)


def ticket_list(*, organization: Organization, status: str | None = None) -> QuerySet[SupportTicket]:
    tickets = SupportTicket.objects.filter(organization=organization)
    if status == "active":
        tickets = tickets.filter(status__in=ACTIVE)
    elif status:
        tickets = tickets.filter(status=status)
    return tickets.select_related("requester", "assignee").order_by("-updated_at", "-id")


def ticket_queue(
    *, user: User, status: str | None = "active", priority: int | None = None, assignee: str = ""
) -> QuerySet[SupportTicket]:
    """The staff queue: most urgent first, then oldest first. `status` "active" means open or
    waiting, "" every status; `assignee` "mine", "unassigned" or "" for anyone."""
    tickets = SupportTicket.objects.all()
    if status == "active":
        tickets = tickets.filter(status__in=ACTIVE)
    elif status:
        tickets = tickets.filter(status=status)
    if priority:
        tickets = tickets.filter(priority=priority)
    if assignee == "mine":
        tickets = tickets.filter(assignee=user)
    elif assignee == "unassigned":
        tickets = tickets.filter(assignee__isnull=True)
    return tickets.select_related("organization", "requester", "assignee").order_by("-priority", "created_at", "id")


def ticket_get_for_actor(
    *, actor: User, public_id: str, organization: Organization | None = None, staff: bool = False
) -> SupportTicket:
    """The one way a page reaches a ticket. Customers: only their organisation's."""
    tickets = SupportTicket.objects.select_related("organization", "requester", "assignee")
    if staff:
        if not actor.is_staff:
            raise Http404("No such ticket.")
    elif organization is None:
        raise Http404("No such ticket.")
    else:
        tickets = tickets.filter(organization=organization)
    ticket = tickets.filter(public_id=public_id).first()
    if ticket is None:
        raise Http404("No such ticket.")
    return ticket


def ticket_messages(*, ticket: SupportTicket, include_internal: bool = False) -> list[TicketMessage]:
    messages = TicketMessage.objects.filter(ticket=ticket)
    if not include_internal:
        messages = messages.filter(is_internal=False)
    return list(
        messages.select_related("author")
        .prefetch_related(Prefetch("attachments", queryset=TicketAttachment.objects.order_by("id")))
        .order_by("created_at", "id")
    )


def attachment_get_for_actor(
    *, actor: User, public_id: str, organization: Organization | None = None, staff: bool = False
) -> TicketAttachment:
    """An attachment its viewer may download: staff any; customers their organisation's,
    never one on an internal note."""
    attachments = TicketAttachment.objects.select_related("message__ticket")
    if staff:
        if not actor.is_staff:
            raise Http404("No such attachment.")
    elif organization is None:
        raise Http404("No such attachment.")
    else:
        attachments = attachments.filter(message__ticket__organization=organization, message__is_internal=False)
    attachment = attachments.filter(public_id=public_id).first()
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment


def staff_users() -> QuerySet[User]:
    return User.objects.filter(is_staff=True, is_active=True).order_by("full_name", "email")
