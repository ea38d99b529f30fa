"""Support tickets: the organisation's pages, attachments, the status rules, the staff
queue, e-mails on replies, and the tenancy walls around all of it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog
from portal import selectors, services
from portal.lib.filetypes import FileTypeError, safe_name, sniff
from portal.models import SupportTicket, TicketAttachment, TicketMessage
from portal.tasks import support_auto_close
from tests.factories import add_member, make_user

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 60
Status = SupportTicket.Status


def upload(name: str, data: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SUPPORT_STAFF_EMAIL = "support@portal.test"
    return settings.MEDIA_ROOT


@pytest.fixture
def agent(db):
    return make_user("agent@portal.test", full_name="Sam Support", is_staff=True)


@pytest.fixture
def other_agent(db):
    return make_user("agent2@portal.test", full_name="Tia Triage", is_staff=True)


@pytest.fixture
def ticket(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = services.ticket_create(
            organization=world.org,
            requester=world.teammate,
            subject="Refunds return 500",
            category="api",
            priority=SupportTicket.Priority.HIGH,
            body="POST /api/v1/refunds fails with request id req_123.",
        )
    mail.outbox.clear()
    return created


def _files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


# --- Opening, listing, reading ---------------------------------------------------------------


def test_a_developer_opens_a_ticket_with_an_attachment_and_staff_are_emailed(
    world, login, media, django_capture_on_commit_callbacks
):
    client = login(world.teammate)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("support:ticket_create"),
            {
                "subject": "  Webhook   signatures fail ",
                "category": "api",
                "priority": "3",
                "body": "Every delivery fails verification.",
                "attachments": [upload("trace.log", b"2025-01-01 signature mismatch\n")],
            },
        )
    ticket = SupportTicket.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("support:ticket_detail", args=[ticket.public_id])
    assert ticket.public_id.startswith("tkt_")
    assert (ticket.subject, ticket.status, ticket.priority) == ("Webhook signatures fail", "open", 3)
    assert ticket.requester == world.teammate and ticket.organization == world.org
    attachment = TicketAttachment.objects.get()
    assert attachment.original_name == "trace.log" and attachment.content_type == "text/plain"
    assert attachment.file.name == f"support/{ticket.public_id}/{attachment.public_id}"
    assert attachment.size == 30 and len(attachment.sha256) == 64
    assert (media / attachment.file.name).read_bytes() == b"2025-01-01 signature mismatch\n"
    assert [m.to for m in mail.outbox] == [["support@portal.test"]]
    assert ticket.public_id in mail.outbox[0].subject and "Every delivery fails" in mail.outbox[0].body
    assert AuditLog.objects.filter(action="support.ticket_opened", organization=world.org).exists()

    page = client.get(response["Location"]).content.decode()
    assert "Webhook signatures fail" in page and "Every delivery fails verification." in page
    assert "trace.log" in page and reverse("support:attachment", args=[attachment.public_id]) in page


def test_a_ticket_without_subject_or_body_shows_errors_next_to_the_fields(world, login):
    response = login(world.teammate).post(
        reverse("support:ticket_create"), {"subject": "", "category": "api", "priority": "2", "body": ""}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="id_subject_error"' in page and 'id="id_body_error"' in page
    assert SupportTicket.objects.count() == 0


def test_the_list_shows_only_the_organisations_tickets_and_filters_by_status(world, login, ticket):
    foreign = services.ticket_create(
        organization=world.outsider_org,
        requester=world.outsider,
        subject="Globex secret problem",
        category="billing",
        priority=2,
        body="x",
    )
    services.ticket_resolve(ticket=services.ticket_create(
        organization=world.org, requester=world.owner, subject="Old invoice question", category="billing",
        priority=1, body="y"), actor=world.owner)  # fmt: skip
    client = login(world.teammate)
    page = client.get(reverse("support:ticket_list")).content.decode()
    assert "Refunds return 500" in page and "Old invoice question" in page
    assert "Globex secret problem" not in page and foreign.public_id not in page
    only_open = client.get(reverse("support:ticket_list"), {"status": "open"}).content.decode()
    assert "Refunds return 500" in only_open and "Old invoice question" not in only_open
    resolved = client.get(reverse("support:ticket_list"), {"status": "resolved"}).content.decode()
    assert "Refunds return 500" not in resolved and "Old invoice question" in resolved


def test_another_organisations_ticket_and_attachment_answer_404(world, login, ticket):
    message = services.ticket_reply(
        ticket=ticket,
        author=world.teammate,
        body="Screenshot attached.",
        attachments=services.attachments_check([upload("shot.png", PNG)]),
    )
    attachment = message.attachments.get()
    client = login(world.outsider)
    for url in (
        reverse("support:ticket_detail", args=[ticket.public_id]),
        reverse("support:attachment", args=[attachment.public_id]),
    ):
        assert client.get(url).status_code == 404, url
    for name in ("ticket_detail", "ticket_resolve", "ticket_reopen"):
        assert client.post(reverse(f"support:{name}", args=[ticket.public_id]), {"body": "hi"}).status_code == 404
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN and ticket.messages.count() == 2
    # Nor may a customer reach the staff pages.
    assert client.get(reverse("support:staff_ticket", args=[ticket.public_id])).status_code == 403


def test_a_read_only_member_can_read_but_not_write(world, login, ticket):
    client = login(world.read_only)
    listing = client.get(reverse("support:ticket_list"))
    assert listing.status_code == 200 and "Refunds return 500" in listing.content.decode()
    assert reverse("support:ticket_create") not in listing.content.decode()
    detail = client.get(reverse("support:ticket_detail", args=[ticket.public_id]))
    assert detail.status_code == 200 and "Send reply" not in detail.content.decode()
    assert client.get(reverse("support:ticket_create")).status_code == 403
    assert client.post(reverse("support:ticket_detail", args=[ticket.public_id]), {"body": "me too"}).status_code == 403
    assert client.post(reverse("support:ticket_resolve", args=[ticket.public_id])).status_code == 403
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN and ticket.messages.count() == 1


def test_pages_need_a_signed_in_member(client, ticket):
    response = client.get(reverse("support:ticket_list"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get(reverse("support:staff_queue")).status_code == 302


def test_html_in_messages_is_escaped(world, login, ticket, agent):
    services.ticket_reply(ticket=ticket, author=world.teammate, body="<script>alert('x')</script><b>bold</b>")
    page = login(world.teammate).get(reverse("support:ticket_detail", args=[ticket.public_id])).content.decode()
    assert "<script>alert" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    staff_page = login(agent).get(reverse("support:staff_ticket", args=[ticket.public_id])).content.decode()
    assert "<script>alert" not in staff_page


# --- Attachments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("invoice.pdf", PDF, "application/pdf"),
        ("screen.png", PNG, "image/png"),
        ("photo.JPG", JPEG, "image/jpeg"),
        ("notes.txt", "Grüße, no NULs here\n".encode(), "text/plain"),
        ("export.csv", b"id,amount\n1,100\n", "text/csv"),
        ("body.json", b'{"error": "card_declined"}', "application/json"),
    ],
)
def test_valid_attachments_are_accepted_with_the_type_sniffed_from_their_bytes(
    world, login, ticket, name, data, content_type
):
    response = login(world.teammate).post(
        reverse("support:ticket_detail", args=[ticket.public_id]),
        {"body": "Here it is.", "attachments": [upload(name, data, content_type="text/html")]},
    )
    assert response.status_code == 302
    attachment = TicketAttachment.objects.get()
    assert attachment.content_type == content_type and attachment.size == len(data)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([("setup.png", EXE)], "“setup.png” is not a PNG image; its contents look like a Windows executable."),
        ([("setup.exe", EXE)], "“setup.exe”: only PNG, JPEG, PDF"),
        ([("page.txt", b"<!DOCTYPE html><html><script>alert(1)</script></html>")], "look like HTML or SVG markup"),
        ([("page.html", b"<html></html>")], "“page.html”: only PNG, JPEG, PDF"),
        ([("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>")], "“logo.svg”: only PNG, JPEG, PDF"),
        ([("logo.png", b"<?xml version='1.0'?><svg/>")], "“logo.png” is not a PNG image"),
        ([("dump.log", b"abc\x00def")], "“dump.log” is not a plain-text file."),
        ([("latin.txt", "caf\xe9".encode("latin-1"))], "“latin.txt” is not a plain-text file."),
        ([("data.json", b"{not json")], "“data.json” is not valid JSON."),
        ([("empty.txt", b"")], "The submitted file is empty."),
        ([("a.txt", b"a"), ("b.txt", b"b"), ("c.txt", b"c"), ("d.txt", b"d")], "Attach at most 3 files"),
    ],
)
def test_bad_attachments_are_rejected_next_to_the_field_and_nothing_is_saved(
    world, login, ticket, media, files, message
):
    before = _files(media)
    client = login(world.teammate)
    response = client.post(
        reverse("support:ticket_detail", args=[ticket.public_id]),
        {"body": "See attached.", "attachments": [upload(n, d) for n, d in files]},
    )
    assert response.status_code == 400
    page = response.content.decode().replace("&#x27;", "'")
    assert 'id="id_attachments_error"' in page
    assert message in page
    ticket.refresh_from_db()
    assert ticket.messages.count() == 1 and TicketAttachment.objects.count() == 0
    assert _files(media) == before
    # The same on a new ticket: no ticket at all.
    response = client.post(
        reverse("support:ticket_create"),
        {
            "subject": "s",
            "category": "api",
            "priority": "2",
            "body": "b",
            "attachments": [upload(n, d) for n, d in files],
        },
    )
    assert response.status_code == 400 and 'id="id_attachments_error"' in response.content.decode()
    assert SupportTicket.objects.count() == 1


def test_a_file_over_the_size_limit_is_rejected(world, login, ticket, settings, media):
    settings.SUPPORT_ATTACHMENT_MAX_BYTES = 2048
    response = login(world.teammate).post(
        reverse("support:ticket_detail", args=[ticket.public_id]),
        {"body": "Big one.", "attachments": [upload("big.txt", b"a" * 2049)]},
    )
    assert response.status_code == 400
    assert "“big.txt” is larger than 2 KB." in response.content.decode()
    assert TicketAttachment.objects.count() == 0 and _files(media) == []


def test_an_uploaded_name_is_sanitised():
    assert safe_name("../../etc/passwd.txt") == "passwd.txt"
    assert safe_name("C:\\Users\\me\\report final.pdf") == "report final.pdf"
    assert safe_name("a\x00b<script>.txt") == "a_b_script_.txt"
    assert safe_name("...") == "attachment"
    assert len(safe_name("x" * 300 + ".log")) == 100 and safe_name("x" * 300 + ".log").endswith(".log")
    with pytest.raises(FileTypeError):
        sniff("run.txt", b"#!/bin/sh\nrm -rf /\n")


def test_attachments_download_as_attachments_for_members_and_staff(world, login, ticket, agent):
    message = services.ticket_reply(
        ticket=ticket,
        author=world.teammate,
        body="Screenshot.",
        attachments=services.attachments_check([upload("../screen shot.png", PNG)]),
    )
    attachment = message.attachments.get()
    url = reverse("support:attachment", args=[attachment.public_id])
    for user in (world.read_only, agent):
        response = login(user).get(url)
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == PNG
        assert response["Content-Type"] == "image/png"
        assert response["Content-Disposition"] == 'attachment; filename="screen shot.png"'
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in response["Cache-Control"]


# --- Status rules -----------------------------------------------------------------------------


def test_replies_move_the_status_between_open_and_waiting(world, ticket, agent):
    services.ticket_reply(ticket=ticket, author=agent, body="Which key?", staff=True)
    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING and ticket.last_reply_at is not None
    services.ticket_reply(ticket=ticket, author=world.teammate, body="The test key.")
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    services.ticket_reply(ticket=ticket, author=agent, body="Fixed.", staff=True, resolve=True)
    ticket.refresh_from_db()
    assert ticket.status == Status.RESOLVED and ticket.resolved_at is not None
    # A requester's reply on a resolved ticket reopens it.
    services.ticket_reply(ticket=ticket, author=world.teammate, body="Still broken.")
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN and ticket.resolved_at is None


def test_a_requester_resolves_and_reopens_within_the_window(world, login, ticket):
    client = login(world.teammate)
    client.post(reverse("support:ticket_resolve", args=[ticket.public_id]))
    ticket.refresh_from_db()
    assert ticket.status == Status.RESOLVED
    assert "Reopen" in client.get(reverse("support:ticket_detail", args=[ticket.public_id])).content.decode()
    client.post(reverse("support:ticket_reopen", args=[ticket.public_id]))
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN and ticket.resolved_at is None
    assert AuditLog.objects.filter(action="support.ticket_reopened", target_id=ticket.public_id).exists()


def test_a_ticket_resolved_too_long_ago_cannot_be_reopened(world, login, ticket, settings):
    services.ticket_resolve(ticket=ticket, actor=world.teammate)
    SupportTicket.objects.filter(pk=ticket.pk).update(
        resolved_at=timezone.now() - timedelta(days=settings.SUPPORT_RESOLVED_CLOSE_DAYS, minutes=1)
    )
    client = login(world.teammate)
    response = client.post(reverse("support:ticket_reopen", args=[ticket.public_id]), follow=True)
    assert "can be reopened for 7 days" in response.content.decode()
    response = client.post(reverse("support:ticket_detail", args=[ticket.public_id]), {"body": "again"})
    assert response.status_code == 400 and "resolved too long ago" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.status == Status.RESOLVED and ticket.messages.count() == 1


def test_closed_is_final(world, login, ticket, agent):
    services.ticket_close(ticket=ticket, actor=agent)
    ticket.refresh_from_db()
    assert ticket.status == Status.CLOSED and ticket.closed_at is not None
    client = login(world.teammate)
    response = client.post(reverse("support:ticket_detail", args=[ticket.public_id]), {"body": "hello?"})
    assert response.status_code == 400 and "This ticket is closed" in response.content.decode()
    client.post(reverse("support:ticket_reopen", args=[ticket.public_id]))
    staff = login(agent)
    staff.post(reverse("support:staff_update", args=[ticket.public_id]), {"status": "open", "priority": "2"})
    response = staff.post(reverse("support:staff_ticket", args=[ticket.public_id]), {"body": "Reply"})
    assert response.status_code == 400
    ticket.refresh_from_db()
    assert ticket.status == Status.CLOSED and ticket.messages.count() == 1


def test_resolved_tickets_close_automatically_after_the_window(world, ticket, settings):
    services.ticket_resolve(ticket=ticket, actor=world.teammate)
    fresh = services.ticket_create(
        organization=world.org, requester=world.owner, subject="Fresh", category="other", priority=2, body="b"
    )
    services.ticket_resolve(ticket=fresh, actor=world.owner)
    now = timezone.now()
    assert services.tickets_auto_close(now=now + timedelta(days=6)) == 0
    SupportTicket.objects.filter(pk=ticket.pk).update(resolved_at=now - timedelta(days=8))
    assert support_auto_close.delay().get() == 1
    ticket.refresh_from_db()
    fresh.refresh_from_db()
    assert ticket.status == Status.CLOSED and ticket.closed_at is not None
    assert fresh.status == Status.RESOLVED
    assert services.tickets_auto_close() == 0  # a second run changes nothing
    assert django_settings.CELERY_BEAT_SCHEDULE["support-auto-close"]["task"] == "portal.tasks.support_auto_close"


def test_the_database_refuses_a_closed_ticket_without_closed_at(ticket):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        SupportTicket.objects.filter(pk=ticket.pk).update(status=Status.CLOSED)


# --- Staff ------------------------------------------------------------------------------------


def test_only_staff_reach_the_queue(world, login, agent, ticket):
    assert login(world.owner).get(reverse("support:staff_queue")).status_code == 403
    response = login(agent).get(reverse("support:staff_queue"))
    assert response.status_code == 200 and "Refunds return 500" in response.content.decode()
    assert "Acme Payments" in response.content.decode()


def test_the_queue_filters_and_sorts_by_priority_then_age(world, login, agent, other_agent, ticket):
    def make(subject, priority, org=world.org, user=world.owner):
        return services.ticket_create(
            organization=org, requester=user, subject=subject, category="api", priority=priority, body="b"
        )

    old_low = make("Old low", 1)
    make("Globex urgent", 4, world.outsider_org, world.outsider)
    newer_high = make("Newer high", 3)
    done = make("Done already", 4)
    services.ticket_close(ticket=done, actor=agent)
    services.ticket_assign(ticket=newer_high, assignee=agent, actor=agent)
    services.ticket_assign(ticket=old_low, assignee=other_agent, actor=agent)

    def subjects(**params):
        page = login(agent).get(reverse("support:staff_queue"), params)
        return [t.subject for t in page.context["page"].object_list]

    assert subjects() == ["Globex urgent", "Refunds return 500", "Newer high", "Old low"]
    assert subjects(assignee="mine") == ["Newer high"]
    assert subjects(assignee="unassigned") == ["Globex urgent", "Refunds return 500"]
    assert subjects(priority="1") == ["Old low"]
    assert subjects(status="closed") == ["Done already"]
    assert "Done already" in subjects(status="all")


def test_staff_assign_to_themselves_or_someone_and_not_to_a_customer(world, login, agent, other_agent, ticket):
    client = login(agent)
    client.post(reverse("support:staff_assign", args=[ticket.public_id]), {"me": "1"})
    ticket.refresh_from_db()
    assert ticket.assignee == agent
    client.post(reverse("support:staff_assign", args=[ticket.public_id]), {"assignee": other_agent.public_id})
    ticket.refresh_from_db()
    assert ticket.assignee == other_agent
    response = client.post(
        reverse("support:staff_assign", args=[ticket.public_id]), {"assignee": world.owner.public_id}, follow=True
    )
    assert "Select a valid choice" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.assignee == other_agent
    with pytest.raises(Exception, match="active staff"):
        services.ticket_assign(ticket=ticket, assignee=world.owner, actor=agent)
    client.post(reverse("support:staff_assign", args=[ticket.public_id]), {"assignee": ""})
    ticket.refresh_from_db()
    assert ticket.assignee is None


def test_staff_change_status_and_priority(login, agent, ticket):
    login(agent).post(reverse("support:staff_update", args=[ticket.public_id]), {"status": "waiting", "priority": "4"})
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority) == ("waiting", 4)
    assert AuditLog.objects.filter(action="support.ticket_updated", target_id=ticket.public_id).exists()


# --- E-mails and internal notes ---------------------------------------------------------------


def test_a_staff_reply_emails_the_requester_and_members_who_wrote(
    world, login, agent, ticket, django_capture_on_commit_callbacks
):
    services.ticket_reply(ticket=ticket, author=world.admin, body="Same for us in prod.")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = login(agent).post(
            reverse("support:staff_ticket", args=[ticket.public_id]),
            {"body": "A fix is rolling out.", "attachments": [upload("fix.txt", b"patched")]},
        )
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == ["admin@acme.test", "dev@acme.test"]
    assert "A fix is rolling out." in mail.outbox[0].body and ticket.public_id in mail.outbox[0].subject
    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING


def test_a_requester_reply_emails_the_assignee_or_the_staff_address(
    world, login, agent, ticket, django_capture_on_commit_callbacks
):
    client = login(world.teammate)
    url = reverse("support:ticket_detail", args=[ticket.public_id])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"body": "Any news?"})
    assert [m.to for m in mail.outbox] == [["support@portal.test"]]
    services.ticket_assign(ticket=ticket, assignee=agent, actor=agent)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"body": "Hello?"})
    assert [m.to for m in mail.outbox] == [["agent@portal.test"]]
    assert "Hello?" in mail.outbox[0].body


def test_internal_notes_email_nobody_and_stay_invisible_to_the_requester(
    world, login, agent, ticket, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = login(agent).post(
            reverse("support:staff_ticket", args=[ticket.public_id]),
            {"body": "Customer is on the legacy cluster.", "internal": "on", "attachments": [upload("n.txt", b"x")]},
        )
    assert response.status_code == 302
    assert mail.outbox == []
    note = TicketMessage.objects.get(is_internal=True)
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN  # a note changes nothing the customer sees
    assert not AuditLog.objects.filter(organization=world.org, action="support.note_added").exists()
    client = Client()  # a separate browser: the staff member's flash message stays with them
    client.force_login(world.teammate)
    page = client.get(reverse("support:ticket_detail", args=[ticket.public_id])).content.decode()
    assert "legacy cluster" not in page and "Internal note" not in page
    assert client.get(reverse("support:attachment", args=[note.attachments.get().public_id])).status_code == 404
    staff_page = login(agent).get(reverse("support:staff_ticket", args=[ticket.public_id])).content.decode()
    assert "legacy cluster" in staff_page and "Internal note" in staff_page


def test_a_customer_cannot_write_an_internal_note(world, ticket):
    with pytest.raises(Exception, match="Only staff"):
        services.ticket_reply(ticket=ticket, author=world.teammate, body="x", internal=True)
    with pytest.raises(Exception, match="Only staff"):
        services.ticket_reply(ticket=ticket, author=world.teammate, body="x", staff=True)


# --- Query counts, navigation, admin ----------------------------------------------------------


def _make_tickets(world, agent, n: int) -> None:
    for i in range(n):
        t = services.ticket_create(
            organization=world.org, requester=world.owner, subject=f"T{i}", category="api", priority=2, body="b"
        )
        services.ticket_assign(ticket=t, assignee=agent, actor=agent)


def test_list_pages_make_a_constant_number_of_queries(world, login, agent, django_assert_max_num_queries):
    _make_tickets(world, agent, 2)
    member, staff = login(world.teammate), None
    counts = {}
    for label in ("few", "many"):
        with CaptureQueriesContext(connection) as member_queries:
            assert member.get(reverse("support:ticket_list")).status_code == 200
        staff = login(agent)
        with CaptureQueriesContext(connection) as staff_queries:
            assert staff.get(reverse("support:staff_queue")).status_code == 200
        counts[label] = (len(member_queries), len(staff_queries))
        member = login(world.teammate)
        _make_tickets(world, agent, 8)
    assert counts["few"] == counts["many"]
    with django_assert_max_num_queries(12):
        member.get(reverse("support:ticket_list"))


def test_navigation_links_support_and_for_staff_the_queue(world, login, agent):
    page = login(world.read_only).get(reverse("portal:dashboard")).content.decode()
    assert reverse("support:ticket_list") in page and reverse("support:staff_queue") not in page
    add_member(world.org, agent, "developer")
    page = login(agent).get(reverse("portal:dashboard")).content.decode()
    assert "Ticket queue" in page and reverse("support:staff_queue") in page


def test_admin_lists_tickets_messages_and_attachments(login, ticket, world):
    services.ticket_reply(
        ticket=ticket, author=world.teammate, body="f", attachments=services.attachments_check([upload("a.pdf", PDF)])
    )
    admin = make_user("root@portal.test", is_staff=True, is_superuser=True)
    client = login(admin)
    for model in ("supportticket", "ticketmessage", "ticketattachment"):
        assert client.get(reverse(f"admin:portal_{model}_changelist")).status_code == 200
    assert client.get(reverse("admin:portal_supportticket_change", args=[ticket.pk])).status_code == 200
    attachment = TicketAttachment.objects.get()
    assert client.get(reverse("admin:portal_ticketattachment_change", args=[attachment.pk])).status_code == 200


def test_the_selector_chokepoint_refuses_non_staff_on_the_staff_path(world, ticket):
    from django.http import Http404

    with pytest.raises(Http404):
        selectors.ticket_get_for_actor(actor=world.owner, public_id=ticket.public_id, staff=True)
    with pytest.raises(Http404):
        selectors.ticket_get_for_actor(
            actor=world.outsider, organization=world.outsider_org, public_id=ticket.public_id
        )
