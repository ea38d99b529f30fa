from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from marketplace import models, services
from marketplace.models import (
    BillingPeriod,
    Category,
    Integration,
    IntegrationImage,
    IntegrationVersion,
    LedgerEntry,
    PartnerAccount,
    Payout,
    Review,
    Statement,
)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "sort_order")
    prepopulated_fields = {"slug": ("name",)}


class IntegrationVersionInline(admin.TabularInline):
    model = IntegrationVersion
    extra = 0
    readonly_fields = ("version", "notes", "published_at")
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class IntegrationImageInline(admin.TabularInline):
    """Read-only: images change through the partner's editor (validated, re-encoded, audited)."""

    model = IntegrationImage
    extra = 0
    fields = ("preview", "kind", "caption", "position", "content_type", "width", "height", "size_bytes", "sha256")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Image")
    def preview(self, obj: IntegrationImage) -> str:
        url = reverse("marketplace:image", args=[obj.public_id])
        return format_html('<a href="{}"><img src="{}" alt="" width="96"></a>', url, url)


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    """Listings are changed by their partners; staff decide through the actions (the same
    service as the portal's review queue), so the partner is e-mailed and the audit log written."""

    list_display = (
        "name",
        "organization",
        "category",
        "status",
        "pricing_model",
        "submitted_at",
        "published_at",
        "featured_rank",
    )
    # Staff curate the home page's "Featured" row: a rank (ascending) features it, empty doesn't.
    list_editable = ("featured_rank",)
    list_filter = ("status", "category", "pricing_model")
    search_fields = ("name", "slug", "public_id", "organization__name")
    list_select_related = ("organization", "category")
    readonly_fields = [f.name for f in Integration._meta.fields if f.name != "featured_rank"]
    inlines = [IntegrationImageInline, IntegrationVersionInline]
    actions = ["publish", "reject_incomplete"]

    def has_add_permission(self, request) -> bool:
        return False

    def _decide(self, request, queryset, decision: str, notes: str) -> None:
        done = 0
        for integration in queryset:
            try:
                services.integration_review(
                    integration=integration, reviewer=request.user, decision=decision, notes=notes
                )
                done += 1
            except ValidationError as error:
                self.message_user(request, f"{integration}: {' '.join(error.messages)}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} integration(s) {decision}ed.", messages.SUCCESS)

    @admin.action(description="Publish the selected submitted integrations")
    def publish(self, request, queryset):
        self._decide(request, queryset, "publish", "")

    @admin.action(description="Reject as incomplete (write specific notes in the review queue)")
    def reject_incomplete(self, request, queryset):
        self._decide(
            request,
            queryset,
            "reject",
            "The listing is incomplete: describe what the integration does, why it needs each scope, "
            "and link its documentation and support.",
        )


@admin.register(IntegrationVersion)
class IntegrationVersionAdmin(admin.ModelAdmin):
    list_display = ("integration", "version", "published_at")
    search_fields = ("integration__name", "version")
    list_select_related = ("integration",)
    readonly_fields = ("integration", "version", "notes", "published_at")

    def has_add_permission(self, request) -> bool:
        return False


class ReviewActionForm(ActionForm):
    reason = forms.CharField(
        required=False, max_length=300, label="Reason", help_text="Required to hide or show reviews; audited."
    )


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    """Reviews are written by organisations and answered by partners; staff only hide or
    restore them, with a reason, through the same service as the portal (audited, and the
    integration's rating recomputed)."""

    list_display = ("public_id", "integration", "organization", "rating", "title", "created_at", "hidden_at")
    list_filter = ("rating", ("hidden_at", admin.EmptyFieldListFilter))
    search_fields = ("public_id", "integration__name", "integration__slug", "organization__name", "title")
    list_select_related = ("integration", "organization")
    readonly_fields = [f.name for f in Review._meta.fields]
    action_form = ReviewActionForm
    actions = ["hide", "unhide"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # hide instead: the rating stays consistent and the audit log says why

    def _moderate(self, request, queryset, act, verb: str, done_verb: str) -> None:
        reason = (request.POST.get("reason") or "").strip()
        if not reason:
            self.message_user(request, f"Write the reason next to the action to {verb} reviews.", messages.ERROR)
            return
        done = 0
        for review in queryset:
            try:
                act(review=review, actor=request.user, reason=reason)
                done += 1
            except ValidationError as error:
                self.message_user(request, f"{review.public_id}: {' '.join(error.messages)}", messages.WARNING)
        if done:
            self.message_user(request, f"{done} review(s) {done_verb}.", messages.SUCCESS)

    @admin.action(description="Hide the selected reviews (write the reason)")
    def hide(self, request, queryset):
        self._moderate(request, queryset, services.review_hide, "hide", "hidden")

    @admin.action(description="Show the selected hidden reviews again (write the reason)")
    def unhide(self, request, queryset):
        self._moderate(request, queryset, services.review_unhide, "show", "shown again")


# ---- revenue -------------------------------------------------------------------------------


class _ReadOnlyAdmin(admin.ModelAdmin):
    """Money rows change only through the services (close, refund, mark paid), never by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PartnerAccount)
class PartnerAccountAdmin(admin.ModelAdmin):
    """Only the revenue share is editable here (audited through the service); payout details are
    the partner's and are shown by their last four characters only."""

    list_display = ("organization", "share_basis_points", "payout_account_holder", "masked_details", "updated_at")
    search_fields = ("organization__name", "organization__public_id")
    list_select_related = ("organization",)
    fields = ("organization", "share_basis_points", "payout_account_holder", "masked_details", "updated_at")
    readonly_fields = ("payout_account_holder", "masked_details", "updated_at")
    raw_id_fields = ("organization",)

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "organization") if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Payout account")
    def masked_details(self, obj) -> str:
        return f"•••• {obj.payout_details_last4}" if obj.payout_details_last4 else "—"

    def save_model(self, request, obj, form, change):
        try:
            services.partner_share_update(account=obj, share_basis_points=obj.share_basis_points, actor=request.user)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)


class RefundActionForm(ActionForm):
    reason = forms.CharField(required=False, label="Refund reason")


@admin.register(BillingPeriod)
class BillingPeriodAdmin(_ReadOnlyAdmin):
    list_display = ("__str__", "status", "closed_at")
    list_filter = ("status",)
    actions = ["close_periods"]

    @admin.action(description="Close the selected periods (post charges, payouts, statements)")
    def close_periods(self, request, queryset):
        for period in queryset.order_by("month"):
            try:
                result = services.billing_period_close(month=period.month)
            except ValidationError as error:
                self.message_user(request, f"{period}: {' '.join(error.messages)}", messages.ERROR)
                continue
            verb = "closed" if result.closed_now else "was already closed"
            self.message_user(request, f"{period} {verb}.", messages.SUCCESS)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(_ReadOnlyAdmin):
    list_display = ("public_id", "period", "kind", "account", "organization", "integration", "amount_minor", "currency")
    list_filter = ("kind", "account", "currency", "period")
    search_fields = ("public_id", "source_key", "organization__name", "integration__name")
    list_select_related = ("period", "organization", "integration")
    action_form = RefundActionForm
    actions = ["refund_in_full"]

    def has_change_permission(self, request, obj=None) -> bool:
        # Read-only rows, but the changelist must allow the refund action.
        return obj is None and request.user.is_staff

    @admin.action(description="Refund the selected charges in full (give a reason)")
    def refund_in_full(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        if not reason:
            self.message_user(request, "Give a refund reason.", messages.ERROR)
            return
        done = 0
        for entry in queryset.filter(kind=LedgerEntry.Kind.CHARGE):
            left = entry.amount_minor + sum(
                LedgerEntry.objects.filter(
                    kind=LedgerEntry.Kind.REFUND, source_key__startswith=f"refund:{entry.public_id}:"
                ).values_list("amount_minor", flat=True)
            )
            if left <= 0:
                continue
            try:
                services.ledger_refund(charge_entry=entry, amount_minor=left, actor=request.user, reason=reason)
                done += 1
            except ValidationError as error:
                self.message_user(request, f"{entry.public_id}: {' '.join(error.messages)}", messages.ERROR)
        self.message_user(request, f"{done} charge(s) refunded.", messages.SUCCESS)


@admin.register(Payout)
class PayoutAdmin(_ReadOnlyAdmin):
    list_display = ("public_id", "organization", "period", "amount_minor", "currency", "status", "paid_at")
    list_filter = ("status", "currency", "period")
    search_fields = ("public_id", "organization__name")
    list_select_related = ("organization", "period")
    actions = ["mark_paid"]

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and request.user.is_staff

    @admin.action(description="Mark the selected payouts paid")
    def mark_paid(self, request, queryset):
        done = 0
        for payout in queryset.filter(status=Payout.Status.PENDING):
            services.payout_mark_paid(payout=payout, actor=request.user)
            done += 1
        self.message_user(request, f"{done} payout(s) marked paid.", messages.SUCCESS)


@admin.register(Statement)
class StatementAdmin(_ReadOnlyAdmin):
    list_display = ("public_id", "organization", "period", "kind", "total_minor", "currency", "created_at")
    list_filter = ("kind", "currency", "period")
    search_fields = ("public_id", "organization__name")
    list_select_related = ("organization", "period")


@admin.register(models.Installation)
class InstallationAdmin(admin.ModelAdmin):
    """Installs are made by consent and ended by uninstalling (the same service as the
    installed page), so the grant's tokens are revoked and the partner is told."""

    list_display = ("public_id", "integration", "organization", "environment", "status", "installed_at", "call_count")
    list_filter = ("status", "environment")
    search_fields = ("public_id", "integration__name", "organization__name")
    list_select_related = ("integration", "organization")
    readonly_fields = [f.name for f in models.Installation._meta.fields]
    actions = ["uninstall"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Uninstall the selected installs (revokes their tokens)")
    def uninstall(self, request, queryset):
        done = 0
        for installation in queryset.filter(status=models.Installation.Status.ACTIVE):
            services.installation_uninstall(installation=installation, actor=request.user)
            done += 1
        self.message_user(request, f"{done} install(s) uninstalled.", messages.SUCCESS)
