from django.contrib import admin

from webhooks.models import Attempt, Delivery, Endpoint, Event


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ("public_id", "organization", "url", "livemode", "enabled", "created_at")
    list_filter = ("livemode", "enabled")
    search_fields = ("public_id", "url", "organization__name")
    readonly_fields = ("public_id", "failing_since")
    exclude = ("secret_encrypted", "previous_secret_encrypted")


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("public_id", "organization", "type", "livemode", "created_at")
    list_filter = ("livemode", "type")
    search_fields = ("public_id",)


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    fields = ("number", "started_at", "status_code", "error_class", "latency_ms")
    readonly_fields = fields
    can_delete = False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("public_id", "event_type", "endpoint", "status", "attempt_count", "next_attempt_at")
    list_filter = ("status",)
    search_fields = ("public_id", "webhook_id")
    inlines = [AttemptInline]
