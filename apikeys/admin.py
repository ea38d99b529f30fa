from datetime import timedelta

import redis
from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from accounts.permissions import CATALOGUE
from accounts.services import RequestMeta
from apikeys import ratelimit, services
from apikeys.models import ApiKey, KeyPolicy, KeyTemplate, OAuthApplication, RequestLog


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return ApiKey.Status.choices

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == ApiKey.Status.REVOKED:
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == ApiKey.Status.EXPIRED:
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == ApiKey.Status.ACTIVE:
            return queryset.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), revoked_at__isnull=True)
        return queryset


class ScopesForm(forms.Form):
    scopes = forms.MultipleChoiceField(
        choices=[(p.code, f"{p.code}: {p.description}") for p in CATALOGUE],
        widget=forms.CheckboxSelectMultiple,
        help_text="The keys get exactly these scopes.",
    )


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "public_id", "display_prefix", "organization", "environment", "status", "last_used_at")
    list_filter = ("environment", StatusFilter, "organization__plan")
    search_fields = ("name", "public_id", "lookup_id", "organization__name", "organization__slug")
    list_select_related = ("organization",)
    date_hierarchy = "created_at"
    actions = ("revoke_selected", "rotate_selected", "extend_selected_30", "extend_selected_90", "set_scopes_selected")
    readonly_fields = (
        "public_id",
        "organization",
        "environment",
        "lookup_id",
        "last4",
        "pepper_version",
        "rotated_at",
        "previous_valid_until",
        "created_by",
        "created_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
        "revoked_reason",
    )
    fields = ("name", "description", *readonly_fields)

    def has_add_permission(self, request):
        return False  # keys are created by members, who see the secret once

    def has_change_permission(self, request, obj=None):
        return False  # changes go through the services (the portal, the API, the action below)

    @admin.action(description="Revoke selected keys")
    def revoke_selected(self, request, queryset):
        keys = list(queryset.select_related("organization"))
        count = services.apikey_bulk_revoke(
            keys=keys, actor=request.user, reason="Revoked by staff", meta=RequestMeta.from_request(request)
        )
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)

    @admin.action(description="Rotate selected keys (old secrets work 24 h more)")
    def rotate_selected(self, request, queryset):
        keys = list(queryset.select_related("organization").filter(revoked_at__isnull=True))
        rotated = services.apikey_bulk_rotate(
            keys=keys, actor=request.user, grace=timedelta(hours=24), meta=RequestMeta.from_request(request)
        )
        # Staff rotate on a customer's behalf (a suspected leak): the new secrets are shown
        # once, here, to be handed over; they are never stored.
        context = {
            **self.admin_site.each_context(request),
            "title": "New secrets: shown once",
            "rotated": rotated,
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "admin/apikeys/rotated.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def _extend(self, request, queryset, days: int) -> None:
        keys = list(queryset.select_related("organization").filter(revoked_at__isnull=True))
        now = timezone.now()
        meta = RequestMeta.from_request(request)
        for key in keys:
            base = key.expires_at if key.expires_at and key.expires_at > now else now
            services.apikey_set_expiry(key=key, actor=request.user, expires_at=base + timedelta(days=days), meta=meta)
        self.message_user(request, f"Extended {len(keys)} key(s) by {days} days.", messages.SUCCESS)

    @admin.action(description="Extend expiry of selected keys by 30 days")
    def extend_selected_30(self, request, queryset):
        self._extend(request, queryset, 30)

    @admin.action(description="Extend expiry of selected keys by 90 days")
    def extend_selected_90(self, request, queryset):
        self._extend(request, queryset, 90)

    @admin.action(description="Replace the scopes of selected keys")
    def set_scopes_selected(self, request, queryset):
        keys = list(queryset.select_related("organization").filter(revoked_at__isnull=True))
        form = ScopesForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            try:
                services.apikey_bulk_set_scopes(
                    keys=keys,
                    actor=request.user,
                    scopes=form.cleaned_data["scopes"],
                    meta=RequestMeta.from_request(request),
                )
            except ValidationError as error:
                self.message_user(request, "; ".join(error.messages), messages.ERROR)
            else:
                self.message_user(request, f"Replaced the scopes of {len(keys)} key(s).", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Replace scopes",
            "form": form,
            "keys": keys,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/apikeys/set_scopes.html", context)

    # ---- penalty blocks: staff see every block on the platform and lift them ----

    change_list_template = "admin/apikeys/apikey/change_list.html"

    def get_urls(self):
        blocks = path("blocks/", self.admin_site.admin_view(self.blocks_view), name="apikeys_apikey_blocks")
        return [blocks, *super().get_urls()]

    def blocks_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            subject = request.POST.get("subject", "")
            kind, _sep, value = subject.partition(":")
            key = None
            if kind == "key" and value.isdigit():
                key = ApiKey.objects.select_related("organization").filter(pk=int(value)).first()
            if kind not in {"key", "ip"} or (kind == "key" and key is None) or not value:
                self.message_user(request, "No such block.", messages.ERROR)
                return redirect("admin:apikeys_apikey_blocks")
            try:
                services.ratelimit_block_lift(
                    subject=subject,
                    actor=request.user,
                    organization=key.organization if key else None,
                    target=key,
                    meta=RequestMeta.from_request(request),
                )
            except redis.RedisError:
                self.message_user(request, "The rate limiter's store is unreachable; try again.", messages.ERROR)
            else:
                self.message_user(request, f"Lifted the block on {subject}.", messages.SUCCESS)
            return redirect("admin:apikeys_apikey_blocks")
        blocks = ratelimit.block_list_all()
        key_pks = [int(b.subject[4:]) for b in blocks if b.subject.startswith("key:") and b.subject[4:].isdigit()]
        keys = {f"key:{k.pk}": k for k in ApiKey.objects.select_related("organization").filter(pk__in=key_pks)}
        rows = [
            {
                "block": block,
                "key": keys.get(block.subject),
                "ip": block.subject[3:] if block.subject.startswith("ip:") else "",
                "seconds": max(1, round(block.remaining_ms / 1000)),
            }
            for block in blocks
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Rate-limit penalty blocks",
            "rows": rows,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/apikeys/blocks.html", context)


@admin.register(KeyTemplate)
class KeyTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "environment", "expires_in_days", "rate_limit_per_hour")
    search_fields = ("name", "organization__name")
    list_filter = ("environment",)
    list_select_related = ("organization",)


@admin.register(KeyPolicy)
class KeyPolicyAdmin(admin.ModelAdmin):
    list_display = ("organization", "name_pattern", "updated_at")
    search_fields = ("organization__name",)
    list_select_related = ("organization",)


@admin.register(RequestLog)
class RequestLogAdmin(admin.ModelAdmin):
    list_display = ("created_at", "organization", "credential_id", "method", "route", "status", "latency_ms", "ip")
    list_filter = ("method", "status", "livemode")
    search_fields = ("credential_id", "request_id", "route", "ip")
    list_select_related = ("organization",)
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# ==== OAuth applications ====
# django-oauth-toolkit registers its own admin for the application model, with the
# client secret as an editable field; ours replaces it. Staff can look, and delete
# through the service (which revokes every token and writes the audit log).


if admin.site.is_registered(OAuthApplication):
    admin.site.unregister(OAuthApplication)


@admin.register(OAuthApplication)
class OAuthApplicationAdmin(admin.ModelAdmin):
    list_display = ("name", "public_id", "organization", "environment", "authorization_grant_type", "created")
    list_filter = ("environment", "authorization_grant_type")
    search_fields = ("name", "public_id", "client_id", "organization__name", "organization__slug")
    list_select_related = ("organization",)
    date_hierarchy = "created"
    actions = ("delete_and_revoke",)
    fields = readonly_fields = (
        "name",
        "public_id",
        "organization",
        "environment",
        "description",
        "client_id",
        "client_type",
        "authorization_grant_type",
        "redirect_uris",
        "allowed_scopes",
        "created_by",
        "created",
        "updated",
        "secret_rotated_at",
    )

    def has_add_permission(self, request):
        return False  # members create applications and see the secret once

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the action below goes through the service

    @admin.action(description="Delete selected applications and revoke their tokens")
    def delete_and_revoke(self, request, queryset):
        applications = list(queryset.select_related("organization"))
        for application in applications:
            services.oauth_application_delete(
                application=application, actor_membership=request.user, meta=RequestMeta.from_request(request)
            )
        self.message_user(request, f"Deleted {len(applications)} application(s).", messages.SUCCESS)
