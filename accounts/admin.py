"""Django admin for every accounts model.

Staff can look at everything, but secrets never appear (token, code and TOTP hashes or
ciphertexts are excluded), the audit log and security records are read-only, and the
partner verification decision goes through the same service as everywhere else, so
the partner's owners and admins are e-mailed and the decision is audited.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count
from django.template.response import TemplateResponse
from django.utils.module_loading import import_string

from accounts.models import (
    AuditLog,
    EmailCode,
    Invitation,
    KnownDevice,
    LoginAttempt,
    Membership,
    Organization,
    PartnerProfile,
    Plan,
    RecoveryCode,
    Role,
    TOTPDevice,
    User,
    UserSession,
)
from accounts.permissions import validate_codes
from accounts.services import RequestMeta, audit_record, partner_verification_decide

# Django 6 makes https the default scheme for URL fields; opt in now, silently.
HTTPS_URLS = {models.URLField: {"assume_scheme": "https"}}


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the application: staff may look, never add or edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AuditedAdmin(admin.ModelAdmin):
    """Staff edits of customer rows land in the organisation's audit log as well."""

    formfield_overrides = HTTPS_URLS

    def _organization_of(self, obj):
        return obj if isinstance(obj, Organization) else getattr(obj, "organization", None)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            action=f"admin.{obj._meta.model_name}_{'changed' if change else 'added'}",
            actor=request.user,
            organization=self._organization_of(obj),
            meta=RequestMeta.from_request(request),
            target=obj,
            details={"fields": sorted(form.changed_data)},
        )

    def delete_model(self, request, obj):
        audit_record(
            action=f"admin.{obj._meta.model_name}_deleted",
            actor=request.user,
            organization=self._organization_of(obj),
            meta=RequestMeta.from_request(request),
            target=obj,
            details={"repr": str(obj)},
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


# -- Users ------------------------------------------------------------------------------


class PortalUserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email", "full_name")

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError("A user with this e-mail address already exists.")
        return email


class PortalUserChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"


class MembershipOfUserInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    fields = ("organization", "role", "custom_role", "created_at")
    readonly_fields = ("organization", "role", "custom_role", "created_at")
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = PortalUserChangeForm
    add_form = PortalUserCreationForm
    ordering = ("email",)
    list_display = ("email", "full_name", "email_verified", "two_factor", "is_active", "is_staff", "date_joined")
    list_filter = ("is_active", "is_staff", "is_superuser", ("email_verified_at", admin.EmptyFieldListFilter))
    list_select_related = ("totp_device",)
    search_fields = ("email", "full_name", "public_id")
    readonly_fields = ("public_id", "date_joined", "last_login")
    fieldsets = (
        (None, {"fields": ("public_id", "email", "password")}),
        ("Profile", {"fields": ("full_name", "email_verified_at")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "full_name", "usable_password", "password1", "password2"),
            },
        ),
    )
    inlines = [MembershipOfUserInline]

    def get_inlines(self, request, obj):
        # A user being added has no memberships yet; the inline would only add noise.
        return self.inlines if obj is not None else []

    @admin.display(boolean=True, description="E-mail verified", ordering="email_verified_at")
    def email_verified(self, obj: User) -> bool:
        return obj.email_verified

    @admin.display(boolean=True, description="2FA")
    def two_factor(self, obj: User) -> bool:
        return obj.has_totp


# -- Plans, organisations, memberships, roles, invitations ------------------------------


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "requests_per_hour", "burst", "monthly_price_minor", "currency", "is_default")
    list_editable = ("requests_per_hour", "burst")
    search_fields = ("name", "code")
    prepopulated_fields = {"code": ("name",)}


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "role", "custom_role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Only the organisation's own custom roles make sense for its members.
        if db_field.name == "custom_role" and getattr(request, "_admin_organization", None) is not None:
            kwargs["queryset"] = Role.objects.filter(organization=request._admin_organization)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Organization)
class OrganizationAdmin(AuditedAdmin):
    list_display = ("name", "kind", "plan", "require_2fa", "member_count", "created_at")
    list_filter = ("kind", "plan", "require_2fa")
    search_fields = ("name", "slug", "public_id")
    readonly_fields = ("public_id", "created_at")
    prepopulated_fields = {"slug": ("name",)}
    list_select_related = ("plan",)
    date_hierarchy = "created_at"
    inlines = [MembershipInline]
    fields = ("public_id", "name", "slug", "kind", "plan", "require_2fa", "website", "created_at")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        request._admin_organization = obj
        return obj

    @admin.display(description="Members", ordering="_member_count")
    def member_count(self, obj: Organization) -> int:
        return obj._member_count


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ("user", "organization", "role", "custom_role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "organization__name", "public_id")
    list_select_related = ("user", "organization", "custom_role")
    autocomplete_fields = ("user", "organization", "custom_role")
    readonly_fields = ("public_id", "created_at")


class RoleAdminForm(forms.ModelForm):
    class Meta:
        model = Role
        fields = ("organization", "name", "description", "permissions")

    def clean_permissions(self):
        codes = self.cleaned_data["permissions"]
        if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
            raise ValidationError("Enter a JSON list of permission codes.")
        unknown = validate_codes(codes)
        if unknown:
            raise ValidationError(f"Unknown permissions: {', '.join(unknown)}.")
        return sorted(set(codes))


@admin.register(Role)
class RoleAdmin(AuditedAdmin):
    form = RoleAdminForm
    list_display = ("name", "organization", "permission_count", "created_at")
    search_fields = ("name", "organization__name", "public_id")
    list_select_related = ("organization",)
    autocomplete_fields = ("organization",)
    readonly_fields = ("public_id", "created_at")

    @admin.display(description="Permissions")
    def permission_count(self, obj: Role) -> int:
        return len(obj.permissions)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Invitations are made in the portal (which e-mails the link); here they are only looked at."""

    list_display = ("email", "organization", "role", "status_display", "invited_by", "created_at", "expires_at")
    list_filter = ("role", ("accepted_at", admin.EmptyFieldListFilter), ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("email", "organization__name", "public_id")
    list_select_related = ("organization", "invited_by")
    exclude = ("token_hash",)
    readonly_fields = (
        "public_id",
        "organization",
        "email",
        "role",
        "custom_role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
        "revoked_at",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Status")
    def status_display(self, obj: Invitation) -> str:
        return Invitation.Status(obj.status).label


# -- Partner verification ------------------------------------------------------------


class RejectionForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="Sent to the partner's owners and admins; say what to fix.",
    )


@admin.register(PartnerProfile)
class PartnerProfileAdmin(admin.ModelAdmin):
    list_display = ("organization", "legal_name", "country", "verification_status", "submitted_at", "decided_at")
    list_filter = ("verification_status", "country")
    search_fields = ("organization__name", "legal_name", "registration_number", "contact_email")
    list_select_related = ("organization",)
    readonly_fields = (
        "organization",
        "verification_status",
        "rejection_reason",
        "submitted_at",
        "decided_at",
        "decided_by",
    )
    fieldsets = (
        (None, {"fields": ("organization",)}),
        (
            "Company",
            {
                "fields": (
                    "legal_name",
                    "registration_number",
                    "country",
                    "website",
                    "address",
                    "contact_name",
                    "contact_email",
                    "contact_phone",
                )
            },
        ),
        (
            "Verification",
            {
                "description": "Use the Verify and Reject actions on the list, so the partner is told.",
                "fields": ("verification_status", "rejection_reason", "submitted_at", "decided_at", "decided_by"),
            },
        ),
    )
    actions = ["verify_selected", "reject_selected"]
    formfield_overrides = HTTPS_URLS

    def has_add_permission(self, request):
        # A profile comes with its partner organisation.
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            action="admin.partnerprofile_changed",
            actor=request.user,
            organization=obj.organization,
            meta=RequestMeta.from_request(request),
            target=obj.organization,
            details={"fields": sorted(form.changed_data)},
        )

    @admin.action(description="Verify selected partners")
    def verify_selected(self, request, queryset):
        done = 0
        for profile in queryset.select_related("organization"):
            try:
                partner_verification_decide(
                    profile=profile,
                    decision=PartnerProfile.Verification.VERIFIED,
                    actor=request.user,
                    meta=RequestMeta.from_request(request),
                )
            except ValidationError as error:
                self.message_user(request, f"{profile.organization}: {' '.join(error.messages)}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"Verified {done} partner(s); their owners and admins were e-mailed.")

    @admin.action(description="Reject selected partners…")
    def reject_selected(self, request, queryset):
        """Ask for the reason on an intermediate page; the decision is made on its submit."""
        form = RejectionForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            for profile in queryset.select_related("organization"):
                partner_verification_decide(
                    profile=profile,
                    decision=PartnerProfile.Verification.REJECTED,
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                    meta=RequestMeta.from_request(request),
                )
            self.message_user(
                request, f"Rejected {queryset.count()} partner(s); their owners and admins were e-mailed."
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Reject partner verification",
            "opts": self.model._meta,
            "profiles": queryset.select_related("organization"),
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/accounts/partner_reject.html", context)


# -- The audit log and security records: read-only --------------------------------------


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "organization", "actor_email", "action", "target_type", "target_id", "ip")
    list_filter = ("action", ("organization", admin.RelatedOnlyFieldListFilter))
    search_fields = ("actor_email", "target_id", "target_type", "action")
    list_select_related = ("organization",)
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LoginAttempt)
class LoginAttemptAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "email", "succeeded", "reason", "ip")
    list_filter = ("succeeded", "reason")
    search_fields = ("email", "ip")
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(KnownDevice)
class KnownDeviceAdmin(ReadOnlyAdmin):
    """Deleting a device only means the next sign-in from it sends a new-device e-mail."""

    list_display = ("user", "user_agent", "ip", "first_seen_at", "last_seen_at")
    search_fields = ("user__email", "ip")
    list_select_related = ("user",)
    exclude = ("fingerprint",)


@admin.register(UserSession)
class UserSessionAdmin(ReadOnlyAdmin):
    """Deleting a row here signs that browser out: the Django session goes with it."""

    list_display = ("user", "ip", "user_agent", "created_at", "last_seen_at")
    search_fields = ("user__email", "ip")
    list_select_related = ("user",)
    exclude = ("session_key",)
    readonly_fields = ("public_id", "user", "user_agent", "ip", "created_at", "last_seen_at")

    def _end(self, session_key: str) -> None:
        store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")
        store(session_key=session_key).delete()

    def delete_model(self, request, obj):
        self._end(obj.session_key)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(ReadOnlyAdmin):
    """Deleting a device is how staff reset a locked-out user's second factor."""

    list_display = ("user", "confirmed_at", "created_at")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    fields = ("user", "confirmed_at", "created_at")
    readonly_fields = fields

    def delete_model(self, request, obj):
        audit_record(
            action="admin.totp_reset",
            actor=request.user,
            organization=None,
            meta=RequestMeta.from_request(request),
            target=obj.user,
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset.select_related("user"):
            self.delete_model(request, obj)


@admin.register(RecoveryCode)
class RecoveryCodeAdmin(ReadOnlyAdmin):
    list_display = ("user", "used_at", "created_at")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    fields = ("user", "used_at", "created_at")
    readonly_fields = fields

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(EmailCode)
class EmailCodeAdmin(ReadOnlyAdmin):
    list_display = ("user", "created_at", "expires_at", "used_at", "attempts")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    fields = ("user", "created_at", "expires_at", "used_at", "attempts")
    readonly_fields = fields

    def has_delete_permission(self, request, obj=None):
        return False
