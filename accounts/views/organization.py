"""Organisation pages: settings, security policy, members, invitations, custom roles,
ownership transfer, the partner profile and the audit log.

Views check who may open a page (decorators), parse input (forms) and hand every
change to a service in accounts.services; a ValidationError from a service becomes
a message next to the form, so the rules live in one place.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import empty
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services
from accounts.decorators import org_member_required, org_permission_required
from accounts.forms.organization import (
    AuditLogFilterForm,
    InvitationForm,
    MemberRoleForm,
    OrganizationCreateForm,
    OrganizationSettingsForm,
    OwnershipTransferForm,
    PartnerProfileForm,
    RoleForm,
    SecurityPolicyForm,
)
from accounts.middleware import SESSION_ORG_KEY
from accounts.models import Invitation, Membership, Organization, RoleName
from accounts.permissions import BUILTIN_ROLE_PERMISSIONS
from accounts.services import RequestMeta
from portal.pages import apply_service_errors, flash_service_errors, form_status

AUDIT_PAGE_SIZE = 50


def _meta(request) -> RequestMeta:
    return RequestMeta.from_request(request)


def _membership(request) -> Membership:
    # The middleware attaches a lazy proxy; services get the real row so identity
    # checks and `save(update_fields=...)` act on a plain model instance.
    membership = request.membership
    if isinstance(membership, Membership):
        return membership
    if membership._wrapped is empty:
        membership._setup()
    return membership._wrapped


def _require(request, code: str) -> None:
    if not request.membership.has_perm(code):
        raise PermissionDenied(f"Your role does not include “{code}”.")


# -- Creating and switching organisations -------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def organization_create(request):
    if not request.user.email_verified:
        return redirect("accounts:verify_email_sent")
    form = OrganizationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        organization = services.organization_create(
            name=form.cleaned_data["name"], owner=request.user, kind=form.cleaned_data["kind"], meta=_meta(request)
        )
        request.session[SESSION_ORG_KEY] = organization.public_id
        messages.success(request, f"{organization.name} is ready. You are its owner.")
        return redirect("portal:dashboard")
    return render(request, "accounts/org_create.html", {"form": form}, status=form_status(form))


@login_required
@require_POST
def organization_switch(request):
    public_id = request.POST.get("organization", "")
    membership = selectors.membership_list_for_user(user=request.user).filter(organization__public_id=public_id).first()
    if membership is None:
        raise Http404("No such organisation.")
    request.session[SESSION_ORG_KEY] = membership.organization.public_id
    messages.info(request, f"You are now working in {membership.organization.name}.")
    next_url = request.POST.get("next", "")
    if next_url and url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        return redirect(next_url)
    return redirect("portal:dashboard")


# -- Settings and security policy -----------------------------------------------------


@org_permission_required("org:read")
@require_http_methods(["GET", "POST"])
def organization_settings(request):
    organization = request.membership.organization
    can_edit = request.membership.has_perm("org:update")
    initial = {"name": organization.name, "website": organization.website}
    form = OrganizationSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST":
        _require(request, "org:update")
        if form.is_valid():
            services.organization_update(
                organization=organization,
                actor=request.user,
                name=form.cleaned_data["name"],
                website=form.cleaned_data["website"],
                meta=_meta(request),
            )
            messages.success(request, "Organisation settings saved.")
            return redirect("accounts:organization_settings")
    return render(
        request,
        "accounts/org_settings.html",
        {"form": form, "organization": organization, "can_edit": can_edit, "tab": "settings"},
        status=form_status(form),
    )


@org_permission_required("org:security")
@require_http_methods(["GET", "POST"])
def security_policy(request):
    organization = request.membership.organization
    form = SecurityPolicyForm(request.POST or None, initial={"require_2fa": organization.require_2fa})
    if request.method == "POST" and form.is_valid():
        try:
            services.organization_security_update(
                organization=organization,
                actor=request.user,
                require_2fa=form.cleaned_data["require_2fa"],
                meta=_meta(request),
            )
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            messages.success(request, "Security policy saved.")
            return redirect("accounts:security_policy")
    members = selectors.member_list(organization=organization).select_related("user__totp_device")
    without_2fa = [m for m in members if not m.user.has_totp]
    return render(
        request,
        "accounts/org_security.html",
        {"form": form, "organization": organization, "without_2fa": without_2fa, "tab": "security"},
        status=form_status(form),
    )


# -- Members and invitations ----------------------------------------------------------


@org_permission_required("members:read")
@require_http_methods(["GET", "POST"])
def members(request):
    """The member list; the invitation form posts here too."""
    membership = _membership(request)
    organization = membership.organization
    can_invite = membership.has_perm("members:invite")
    form = InvitationForm(request.POST or None, actor=membership) if can_invite else None
    if request.method == "POST":
        _require(request, "members:invite")
        if form.is_valid():
            try:
                invitation, _token = services.invitation_create(
                    actor=membership,
                    email=form.cleaned_data["email"],
                    role=form.role_name,
                    custom_role=form.custom_role,
                    meta=_meta(request),
                )
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                messages.success(request, f"Invitation sent to {invitation.email}.")
                return redirect("accounts:members")
    member_rows = selectors.member_list(organization=organization).select_related("user__totp_device")
    context = {
        "members": member_rows,
        "invitations": selectors.invitation_pending_list(organization=organization) if can_invite else [],
        "form": form,
        "can_manage": membership.has_perm("members:manage"),
        "can_invite": can_invite,
        "owner_count": sum(1 for m in member_rows if m.is_owner),
        "tab": "members",
    }
    return render(request, "accounts/org_members.html", context, status=form_status(form))


@org_permission_required("members:manage")
@require_http_methods(["GET", "POST"])
def member_update(request, public_id: str):
    actor = _membership(request)
    member = selectors.member_get(organization=actor.organization, public_id=public_id)
    form = MemberRoleForm(request.POST or None, actor=actor, member=member)
    if request.method == "POST" and form.is_valid():
        try:
            services.member_role_change(
                membership=member,
                actor=actor,
                role=form.role_name,
                custom_role=form.custom_role,
                meta=_meta(request),
            )
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            messages.success(request, f"{member.user.get_full_name()} is now {member.role_label}.")
            return redirect("accounts:members")
    return render(
        request,
        "accounts/org_member_edit.html",
        {"form": form, "member": member, "tab": "members"},
        status=form_status(form),
    )


@org_permission_required("members:manage")
@require_POST
def member_remove(request, public_id: str):
    actor = _membership(request)
    member = selectors.member_get(organization=actor.organization, public_id=public_id)
    try:
        services.member_remove(membership=member, actor=actor, meta=_meta(request))
    except ValidationError as error:
        flash_service_errors(request, error)
    else:
        messages.success(request, f"{member.user.email} was removed from {actor.organization.name}.")
    return redirect("accounts:members")


@org_member_required
@require_POST
def organization_leave(request):
    membership = _membership(request)
    name = membership.organization.name
    try:
        services.member_leave(membership=membership, meta=_meta(request))
    except ValidationError as error:
        flash_service_errors(request, error)
        return redirect("accounts:members" if membership.has_perm("members:read") else "portal:dashboard")
    request.session.pop(SESSION_ORG_KEY, None)
    messages.success(request, f"You left {name}.")
    return redirect("portal:dashboard")


@org_member_required
@require_http_methods(["GET", "POST"])
def ownership_transfer(request):
    actor = _membership(request)
    if not actor.is_owner:
        raise PermissionDenied("Only an owner can transfer ownership.")
    candidates = [m for m in selectors.member_list(organization=actor.organization) if m.id != actor.id]
    form = OwnershipTransferForm(request.POST or None, candidates=candidates)
    if request.method == "POST" and form.is_valid():
        new_owner = selectors.member_get(organization=actor.organization, public_id=form.cleaned_data["new_owner"])
        try:
            services.ownership_transfer(
                actor=actor, new_owner=new_owner, password=form.cleaned_data["password"], meta=_meta(request)
            )
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            messages.success(request, f"{new_owner.user.get_full_name()} is now an owner; you are an admin.")
            return redirect("accounts:members")
    return render(
        request,
        "accounts/org_transfer.html",
        {"form": form, "candidates": candidates, "tab": "members"},
        status=form_status(form),
    )


@org_permission_required("members:invite")
@require_POST
def invitation_revoke(request, public_id: str):
    actor = _membership(request)
    invitation = selectors.invitation_get(organization=actor.organization, public_id=public_id)
    try:
        services.invitation_revoke(invitation=invitation, actor=actor, meta=_meta(request))
    except ValidationError as error:
        flash_service_errors(request, error)
    else:
        messages.success(request, f"The invitation for {invitation.email} was withdrawn.")
    return redirect("accounts:members")


@require_http_methods(["GET", "POST"])
def invitation_accept(request, token: str):
    """Open an e-mailed invitation link; works signed in or out (then it explains how to go on)."""
    try:
        invitation = selectors.invitation_get_by_token(token=token)
    except Http404:
        return render(
            request,
            "accounts/invitation_accept.html",
            {"problem": "This invitation link is not valid. Check that you copied the whole link."},
            status=404,
        )
    user = request.user if request.user.is_authenticated else None
    context = {"invitation": invitation, "role_label": _invitation_role_label(invitation)}
    if (
        user is not None
        and invitation.status == Invitation.Status.ACCEPTED
        and invitation.accepted_by_id == user.id
        and Membership.objects.filter(organization=invitation.organization, user=user).exists()
    ):
        request.session[SESSION_ORG_KEY] = invitation.organization.public_id
        messages.info(request, f"You are already a member of {invitation.organization.name}.")
        return redirect("portal:dashboard")
    try:
        services.invitation_check(invitation=invitation, user=user)
    except services.InvitationRefused as refused:
        context["problem"] = refused.messages[0]
        return render(request, "accounts/invitation_accept.html", context, status=refused.status_code)
    if user is None:
        accept_url = request.get_full_path()
        context["login_url"] = f"{reverse('accounts:login')}?{_query(next=accept_url)}"
        context["signup_url"] = f"{reverse('accounts:signup')}?{_query(next=accept_url, email=invitation.email)}"
        return render(request, "accounts/invitation_accept.html", context)
    if request.method == "POST":
        try:
            membership = services.invitation_accept(invitation=invitation, user=user, meta=_meta(request))
        except services.InvitationRefused as refused:
            context["problem"] = refused.messages[0]
            return render(request, "accounts/invitation_accept.html", context, status=refused.status_code)
        request.session[SESSION_ORG_KEY] = membership.organization.public_id
        messages.success(request, f"Welcome to {membership.organization.name}.")
        return redirect("portal:dashboard")
    return render(request, "accounts/invitation_accept.html", context)


def _query(**params: str) -> str:
    return urlencode(params)


def _invitation_role_label(invitation: Invitation) -> str:
    if invitation.role == RoleName.CUSTOM and invitation.custom_role_id:
        return invitation.custom_role.name
    return RoleName(invitation.role).label


# -- Custom roles -----------------------------------------------------------------------


@org_permission_required("roles:manage")
def roles(request):
    organization = request.membership.organization
    role_rows = selectors.role_list(organization=organization).annotate(member_count=Count("memberships"))
    return render(request, "accounts/org_roles.html", {"roles": role_rows, "builtin": _builtin_roles(), "tab": "roles"})


def _builtin_roles() -> list[dict]:
    return [{"label": RoleName(name).label, "count": len(codes)} for name, codes in BUILTIN_ROLE_PERMISSIONS.items()]


@org_permission_required("roles:manage")
@require_http_methods(["GET", "POST"])
def role_create(request):
    actor = _membership(request)
    form = RoleForm(request.POST or None, actor=actor)
    if request.method == "POST" and form.is_valid():
        try:
            role = services.role_create(
                actor=actor,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                permissions=form.cleaned_data["permissions"],
                meta=_meta(request),
            )
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            messages.success(request, f"Role “{role.name}” created.")
            return redirect("accounts:roles")
    return render(
        request,
        "accounts/org_role_form.html",
        {"form": form, "role": None, "tab": "roles"},
        status=form_status(form),
    )


@org_permission_required("roles:manage")
@require_http_methods(["GET", "POST"])
def role_edit(request, public_id: str):
    actor = _membership(request)
    role = selectors.role_get(organization=actor.organization, public_id=public_id)
    initial = {"name": role.name, "description": role.description, "permissions": role.permissions}
    form = RoleForm(request.POST or None, actor=actor, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.role_update(
                role=role,
                actor=actor,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                permissions=form.cleaned_data["permissions"],
                meta=_meta(request),
            )
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            messages.success(request, f"Role “{role.name}” saved.")
            return redirect("accounts:roles")
    return render(
        request,
        "accounts/org_role_form.html",
        {"form": form, "role": role, "assigned": role.memberships.count(), "tab": "roles"},
        status=form_status(form),
    )


@org_permission_required("roles:manage")
@require_POST
def role_delete(request, public_id: str):
    actor = _membership(request)
    role = selectors.role_get(organization=actor.organization, public_id=public_id)
    try:
        services.role_delete(role=role, actor=actor, meta=_meta(request))
    except ValidationError as error:
        flash_service_errors(request, error)
    else:
        messages.success(request, f"Role “{role.name}” deleted.")
    return redirect("accounts:roles")


# -- Partner profile ---------------------------------------------------------------------


@org_permission_required("partner:read")
@require_http_methods(["GET", "POST"])
def partner_profile(request):
    organization: Organization = request.membership.organization
    profile = selectors.partner_profile_get(organization=organization)
    can_manage = request.membership.has_perm("partner:manage")
    initial = {field: getattr(profile, field) for field in services.PARTNER_PROFILE_FIELDS}
    action = request.POST.get("action", "save")
    form = PartnerProfileForm(request.POST if request.method == "POST" and action == "save" else None, initial=initial)
    submit_errors: list[str] = []
    if request.method == "POST":
        _require(request, "partner:manage")
        if action == "submit":
            try:
                services.partner_profile_submit(profile=profile, actor=request.user, meta=_meta(request))
            except ValidationError as error:
                submit_errors = error.messages
            else:
                messages.success(request, "Submitted for verification. We will e-mail you when it has been reviewed.")
                return redirect("accounts:partner_profile")
        elif form.is_valid():
            was_verified = profile.is_verified
            services.partner_profile_update(
                profile=profile, actor=request.user, data=form.cleaned_data, meta=_meta(request)
            )
            if was_verified and not profile.is_verified:
                messages.warning(request, "Profile saved. Your legal details changed, so it is back in review.")
            else:
                messages.success(request, "Profile saved.")
            return redirect("accounts:partner_profile")
    missing = [str(PartnerProfileForm.base_fields[name].label or name.title()) for name in profile.missing_fields()]
    return render(
        request,
        "accounts/partner_profile.html",
        {
            "form": form,
            "profile": profile,
            "can_manage": can_manage,
            "missing": missing,
            "submit_errors": submit_errors,
        },
        status=400 if submit_errors else form_status(form),
    )


# -- Audit log -----------------------------------------------------------------------------


@org_permission_required("audit:read")
def audit_log(request):
    organization = request.membership.organization
    form = AuditLogFilterForm(request.GET or None, actions=selectors.audit_log_actions(organization=organization))
    entries = selectors.audit_log_list(organization=organization)
    filters = {}
    if form.is_valid():
        if form.cleaned_data["action"]:
            entries = entries.filter(action=form.cleaned_data["action"])
            filters["action"] = form.cleaned_data["action"]
        if form.cleaned_data["actor"]:
            entries = entries.filter(actor_email__iexact=form.cleaned_data["actor"].strip())
            filters["actor"] = form.cleaned_data["actor"].strip()
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/audit_log.html",
        {"form": form, "page": page, "query": _query(**filters), "filtered": bool(filters)},
    )
