"""Support ticket pages: the organisation's tickets (list, new, detail with the thread),
attachment downloads, and the staff queue with its ticket page. Every change goes
through portal.services; every lookup through the selectors' chokepoints."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import org_permission_required, staff_required
from accounts.services import RequestMeta
from portal import selectors, services
from portal.forms import (
    AssignForm,
    QueueFilterForm,
    ReplyForm,
    StaffReplyForm,
    TicketFilterForm,
    TicketForm,
    TicketUpdateForm,
)
from portal.models import SupportTicket
from portal.pages import apply_service_errors as _apply_errors
from portal.pages import flash_service_errors, form_status

PAGE_SIZE = 25


_staff_required = staff_required("Only staff work the ticket queue.")


def _ticket(request, public_id: str) -> SupportTicket:
    return selectors.ticket_get_for_actor(
        actor=request.user, organization=request.membership.organization, public_id=public_id
    )


def _staff_ticket(request, public_id: str) -> SupportTicket:
    return selectors.ticket_get_for_actor(actor=request.user, public_id=public_id, staff=True)


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


# --- The organisation's tickets -------------------------------------------------------------


@org_permission_required("support:read")
@require_GET
def ticket_list(request):
    filters = TicketFilterForm(request.GET or None)
    status = filters.cleaned_data["status"] if filters.is_valid() else ""
    tickets = selectors.ticket_list(organization=request.membership.organization, status=status or None)
    page = Paginator(tickets, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "support/ticket_list.html",
        {
            "page": page,
            "filters": filters,
            "status": status,
            "query": _query_without_page(request),
            "can_write": request.membership.has_perm("support:write"),
        },
    )


@org_permission_required("support:write")
@require_http_methods(["GET", "POST"])
def ticket_create(request):
    form = TicketForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ticket = services.ticket_create(
                organization=request.membership.organization,
                requester=request.user,
                subject=data["subject"],
                category=data["category"],
                priority=data["priority"],
                body=data["body"],
                attachments=data["attachments"],
                meta=RequestMeta.from_request(request),
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"Ticket {ticket.public_id} opened. We will answer here and by e-mail.")
            return redirect("support:ticket_detail", ticket.public_id)
    return render(request, "support/ticket_new.html", {"form": form}, status=form_status(form))


@org_permission_required("support:read")
@require_http_methods(["GET", "POST"])
def ticket_detail(request, public_id: str):
    ticket = _ticket(request, public_id)
    can_write = request.membership.has_perm("support:write")
    form = ReplyForm()
    if request.method == "POST":
        if not can_write:
            raise PermissionDenied("Your role does not include “support:write”.")
        form = ReplyForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                services.ticket_reply(
                    ticket=ticket,
                    author=request.user,
                    body=form.cleaned_data["body"],
                    attachments=form.cleaned_data["attachments"],
                    meta=RequestMeta.from_request(request),
                )
            except ValidationError as exc:
                _apply_errors(form, exc)
            else:
                messages.success(request, "Reply sent.")
                return redirect("support:ticket_detail", ticket.public_id)
    return render(
        request,
        "support/ticket_detail.html",
        {
            "ticket": ticket,
            "thread": selectors.ticket_messages(ticket=ticket),
            "form": form,
            "can_write": can_write,
            "can_reopen": services.ticket_can_reopen(ticket=ticket),
        },
        status=form_status(form),
    )


@org_permission_required("support:write")
@require_POST
def ticket_resolve(request, public_id: str):
    ticket = _ticket(request, public_id)
    try:
        services.ticket_resolve(ticket=ticket, actor=request.user, meta=RequestMeta.from_request(request))
    except ValidationError as exc:
        flash_service_errors(request, exc)
    else:
        messages.success(request, "Marked resolved. You can reopen it if the problem comes back.")
    return redirect("support:ticket_detail", ticket.public_id)


@org_permission_required("support:write")
@require_POST
def ticket_reopen(request, public_id: str):
    ticket = _ticket(request, public_id)
    try:
        services.ticket_reopen(ticket=ticket, actor=request.user, meta=RequestMeta.from_request(request))
    except ValidationError as exc:
        flash_service_errors(request, exc)
    else:
        messages.success(request, "Ticket reopened.")
    return redirect("support:ticket_detail", ticket.public_id)


def _file_response(attachment) -> FileResponse:
    """Always a download, never rendered by the browser: attachment disposition, the type we
    sniffed, nosniff and a sandboxing CSP."""
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404("The file is missing.") from None
    response = FileResponse(
        handle, as_attachment=True, filename=attachment.original_name, content_type=attachment.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    add_never_cache_headers(response)
    response["Cache-Control"] = "private, no-store"
    return response


@org_permission_required("support:read")
def _member_download(request, public_id: str):
    attachment = selectors.attachment_get_for_actor(
        actor=request.user, organization=request.membership.organization, public_id=public_id
    )
    return _file_response(attachment)


@require_GET
def attachment_download(request, public_id: str):
    """Staff download any attachment; members with support:read their organisation's."""
    if request.user.is_authenticated and request.user.is_staff:
        return _file_response(selectors.attachment_get_for_actor(actor=request.user, public_id=public_id, staff=True))
    return _member_download(request, public_id)


# --- Staff ----------------------------------------------------------------------------------


@_staff_required
@require_GET
def staff_queue(request):
    filters = QueueFilterForm(request.GET or None)
    values = filters.cleaned_data if filters.is_valid() else {}
    status = values.get("status") or "active"
    tickets = selectors.ticket_queue(
        user=request.user,
        status="" if status == "all" else status,
        priority=values.get("priority"),
        assignee=values.get("assignee") or "",
    )
    page = Paginator(tickets, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "support/staff_queue.html",
        {"page": page, "filters": filters, "query": _query_without_page(request)},
    )


def _staff_page(request, ticket: SupportTicket, *, reply_form=None, status: int = 200):
    staff = list(selectors.staff_users())
    return render(
        request,
        "support/staff_ticket.html",
        {
            "ticket": ticket,
            "thread": selectors.ticket_messages(ticket=ticket, include_internal=True),
            "form": reply_form or StaffReplyForm(),
            "assign_form": AssignForm(
                staff=staff, initial={"assignee": ticket.assignee.public_id if ticket.assignee else ""}
            ),
            "update_form": TicketUpdateForm(initial={"status": ticket.status, "priority": ticket.priority}),
        },
        status=status,
    )


@_staff_required
@require_http_methods(["GET", "POST"])
def staff_ticket(request, public_id: str):
    ticket = _staff_ticket(request, public_id)
    if request.method == "GET":
        return _staff_page(request, ticket)
    form = StaffReplyForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.ticket_reply(
                ticket=ticket,
                author=request.user,
                body=data["body"],
                attachments=data["attachments"],
                staff=True,
                internal=data["internal"],
                resolve=data["resolve"],
                meta=RequestMeta.from_request(request),
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Internal note added." if data["internal"] else "Reply sent to the customer.")
            return redirect("support:staff_ticket", ticket.public_id)
    return _staff_page(request, ticket, reply_form=form, status=400)


@_staff_required
@require_POST
def staff_assign(request, public_id: str):
    ticket = _staff_ticket(request, public_id)
    meta = RequestMeta.from_request(request)
    if request.POST.get("me"):
        assignee = request.user
    else:
        form = AssignForm(request.POST, staff=list(selectors.staff_users()))
        if not form.is_valid():
            for error in form.errors.get("assignee", []):
                messages.error(request, error)
            return redirect("support:staff_ticket", ticket.public_id)
        assignee = form.cleaned_data["assignee"]
    try:
        services.ticket_assign(ticket=ticket, assignee=assignee, actor=request.user, meta=meta)
    except ValidationError as exc:
        flash_service_errors(request, exc)
    else:
        messages.success(request, f"Assigned to {assignee.get_full_name()}." if assignee else "Unassigned.")
    return redirect("support:staff_ticket", ticket.public_id)


@_staff_required
@require_POST
def staff_update(request, public_id: str):
    ticket = _staff_ticket(request, public_id)
    form = TicketUpdateForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("support:staff_ticket", ticket.public_id)
    try:
        services.ticket_update(
            ticket=ticket,
            actor=request.user,
            status=form.cleaned_data["status"],
            priority=form.cleaned_data["priority"],
            meta=RequestMeta.from_request(request),
        )
    except ValidationError as exc:
        flash_service_errors(request, exc)
    else:
        messages.success(request, "Ticket updated.")
    return redirect("support:staff_ticket", ticket.public_id)
