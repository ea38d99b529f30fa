from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from portal.models import SupportTicket, TicketAttachment, TicketMessage


class TicketMessageInline(admin.StackedInline):
    model = TicketMessage
    extra = 0
    fields = ("author", "is_staff_reply", "is_internal", "body", "created_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        # Replies go through the staff ticket page, which applies the status rules and e-mails.
        return False


@admin.register(SupportTicket)
class SupportTicketAdmin(admin.ModelAdmin):
    list_display = ("public_id", "subject", "organization", "status", "priority", "assignee", "updated_at")
    list_filter = ("status", "priority", "category")
    search_fields = ("public_id", "subject", "organization__name", "requester__email")
    list_select_related = ("organization", "assignee")
    # Read-only here: staff change tickets on the staff ticket page (/support/staff/), whose
    # services keep the status rules, the audit log and the e-mails.
    readonly_fields = [f.name for f in SupportTicket._meta.fields if f.name != "id"]
    inlines = [TicketMessageInline]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(TicketMessage)
class TicketMessageAdmin(admin.ModelAdmin):
    list_display = ("public_id", "ticket", "author", "is_staff_reply", "is_internal", "created_at")
    list_filter = ("is_staff_reply", "is_internal")
    search_fields = ("public_id", "ticket__public_id", "author__email")
    list_select_related = ("ticket", "author")
    readonly_fields = ("public_id", "ticket", "author", "is_staff_reply", "is_internal", "body", "created_at")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(TicketAttachment)
class TicketAttachmentAdmin(admin.ModelAdmin):
    list_display = ("public_id", "original_name", "content_type", "size", "message", "created_at")
    list_filter = ("content_type",)
    search_fields = ("public_id", "original_name", "sha256", "message__ticket__public_id")
    list_select_related = ("message",)
    readonly_fields = (
        "public_id",
        "message",
        "download",
        "original_name",
        "content_type",
        "size",
        "sha256",
        "created_at",
    )
    exclude = ("file",)

    @admin.display(description="File")
    def download(self, obj) -> str:
        url = reverse("support:attachment", args=[obj.public_id])
        return format_html('<a href="{}">Download {}</a>', url, obj.original_name)

    def has_add_permission(self, request) -> bool:
        return False
