from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from marketplace import services
from marketplace.models import Category, Integration, IntegrationVersion


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


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    """Listings are changed by their partners; staff decide through the actions (the same
    service as the portal's review queue), so the partner is e-mailed and the audit log written."""

    list_display = ("name", "organization", "category", "status", "pricing_model", "submitted_at", "published_at")
    list_filter = ("status", "category", "pricing_model")
    search_fields = ("name", "slug", "public_id", "organization__name")
    list_select_related = ("organization", "category")
    readonly_fields = [f.name for f in Integration._meta.fields]
    inlines = [IntegrationVersionInline]
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
