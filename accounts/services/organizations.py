"""Organisations: members, invitations, roles, security policy, partner verification."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import (
    Invitation,
    Membership,
    Organization,
    PartnerProfile,
    Plan,
    Role,
    RoleName,
    User,
)
from accounts.permissions import BUILTIN_ROLE_PERMISSIONS, validate_codes
from accounts.services.audit import SYSTEM, RequestMeta, audit_record
from portal.emails import absolute_url, send_templated_email
from portal.lib.ids import random_base62


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug = base
    while Organization.objects.filter(slug=slug).exists():
        slug = f"{base}-{random_base62(4).lower()}"
    return slug


@transaction.atomic
def organization_create(
    *, name: str, owner: User, kind: str = Organization.Kind.DEVELOPER, meta: RequestMeta = SYSTEM
) -> Organization:
    """A new organisation on the default plan, with `owner` as its first owner."""
    organization = Organization.objects.create(
        name=name.strip(), slug=_unique_slug(name), kind=kind, plan=Plan.objects.get_default()
    )
    Membership.objects.create(user=owner, organization=organization, role=RoleName.OWNER)
    if kind == Organization.Kind.PARTNER:
        PartnerProfile.objects.create(organization=organization)
    audit_record(
        action="organization.created",
        actor=owner,
        organization=organization,
        meta=meta,
        target=organization,
        details={"kind": kind},
    )
    return organization


def organization_update(
    *, organization: Organization, actor: User, name: str, website: str, meta: RequestMeta = SYSTEM
) -> Organization:
    changes = {
        field: {"from": getattr(organization, field), "to": value}
        for field, value in (("name", name.strip()), ("website", website.strip()))
        if getattr(organization, field) != value
    }
    if not changes:
        return organization
    for field, change in changes.items():
        setattr(organization, field, change["to"])
    organization.save(update_fields=list(changes))
    audit_record(
        action="organization.updated",
        actor=actor,
        organization=organization,
        meta=meta,
        target=organization,
        details={"changes": changes},
    )
    return organization


def organization_security_update(
    *, organization: Organization, actor: User, require_2fa: bool, meta: RequestMeta = SYSTEM
) -> Organization:
    """Turn the organisation's 2FA requirement on or off.

    The person switching it on must already use a second factor: otherwise the policy
    would lock them out of the very page they are on.
    """
    if require_2fa == organization.require_2fa:
        return organization
    if require_2fa and not actor.has_totp:
        raise ValidationError("Set up two-factor authentication on your own account before requiring it of everyone.")
    organization.require_2fa = require_2fa
    organization.save(update_fields=["require_2fa"])
    audit_record(
        action="organization.2fa_required" if require_2fa else "organization.2fa_optional",
        actor=actor,
        organization=organization,
        meta=meta,
        target=organization,
    )
    return organization


# -- Roles of members ---------------------------------------------------------------
#
# One rule keeps the hierarchy honest without a ranking of roles: nobody can hand out,
# take away or edit a set of permissions that is not wholly inside their own. Owners hold
# everything, so they can do anything; an admin (no billing:manage, no org:delete) can
# never make an owner, touch an owner, or build a custom role richer than admin.


def role_permissions(*, role: str, custom_role: Role | None) -> frozenset[str]:
    if role == RoleName.CUSTOM:
        return frozenset(custom_role.permissions) if custom_role is not None else frozenset()
    return BUILTIN_ROLE_PERMISSIONS[role]


def _check_role_choice(*, organization: Organization, role: str, custom_role: Role | None) -> None:
    if role not in RoleName.values:
        raise ValidationError("Unknown role.")
    if (role == RoleName.CUSTOM) != (custom_role is not None):
        raise ValidationError("A custom role needs one of the organisation's roles.")
    if custom_role is not None and custom_role.organization_id != organization.id:
        raise ValidationError("Unknown role.")


def _require_within(actor: Membership, permissions: frozenset[str], message: str) -> None:
    if not permissions <= actor.permissions:
        raise ValidationError(message)


def _owner_ids_locked(organization: Organization) -> list[int]:
    # Locks the owner rows (PostgreSQL) so two concurrent demotions cannot both see
    # "another owner is left" and leave the organisation without one.
    return list(
        Membership.objects.select_for_update()
        .filter(organization=organization, role=RoleName.OWNER)
        .values_list("id", flat=True)
    )


def _refuse_last_owner(membership: Membership, message: str) -> None:
    if membership.is_owner and _owner_ids_locked(membership.organization) == [membership.id]:
        raise ValidationError(message)


def _check_can_manage(actor: Membership, target: Membership) -> None:
    if not actor.has_perm("members:manage"):
        raise PermissionDenied("Your role does not include “members:manage”.")
    if target.organization_id != actor.organization_id:
        raise PermissionDenied("That member belongs to another organisation.")
    if target.is_owner and not actor.is_owner:
        raise ValidationError("Only an owner can change or remove another owner.")
    _require_within(actor, target.permissions, "This member holds permissions that your own role does not include.")


@transaction.atomic
def member_role_change(
    *, membership: Membership, actor: Membership, role: str, custom_role: Role | None = None, meta: RequestMeta = SYSTEM
) -> Membership:
    """Give `membership` a new role on behalf of `actor` (the acting membership)."""
    organization = membership.organization
    _check_can_manage(actor, membership)
    _check_role_choice(organization=organization, role=role, custom_role=custom_role)
    if role == RoleName.OWNER and not actor.is_owner:
        raise ValidationError("Only an owner can make someone an owner.")
    _require_within(
        actor,
        role_permissions(role=role, custom_role=custom_role),
        "You can't grant a role with permissions that your own role does not include.",
    )
    if membership.role == role and membership.custom_role_id == (custom_role.id if custom_role else None):
        return membership
    if role != RoleName.OWNER:
        _refuse_last_owner(membership, "The organisation's last owner can't be demoted. Make someone else owner first.")
    previous = membership.role_label
    membership.role = role
    membership.custom_role = custom_role
    membership.save(update_fields=["role", "custom_role"])
    audit_record(
        action="member.role_changed",
        actor=actor.user,
        organization=organization,
        meta=meta,
        target=membership,
        details={"member": membership.user.email, "from": previous, "to": membership.role_label},
    )
    send_templated_email(
        to=membership.user.email,
        template="role_changed",
        context={
            "organization": organization.name,
            "role": membership.role_label,
            "previous_role": previous,
            "actor": actor.user.get_full_name(),
            "members_url": absolute_url(reverse("portal:dashboard")),
        },
    )
    return membership


@transaction.atomic
def member_remove(*, membership: Membership, actor: Membership, meta: RequestMeta = SYSTEM) -> None:
    if membership.id == actor.id:
        raise ValidationError("Use “Leave organisation” to remove yourself.")
    _check_can_manage(actor, membership)
    _refuse_last_owner(membership, "The organisation's last owner can't be removed.")
    organization, user = membership.organization, membership.user
    audit_record(
        action="member.removed",
        actor=actor.user,
        organization=organization,
        meta=meta,
        target=membership,
        details={"member": user.email, "role": membership.role_label},
    )
    membership.delete()
    send_templated_email(
        to=user.email,
        template="removed_from_org",
        context={"organization": organization.name, "actor": actor.user.get_full_name()},
    )


@transaction.atomic
def member_leave(*, membership: Membership, meta: RequestMeta = SYSTEM) -> None:
    _refuse_last_owner(
        membership, "You are the organisation's last owner. Transfer ownership to another member before leaving."
    )
    audit_record(
        action="member.left",
        actor=membership.user,
        organization=membership.organization,
        meta=meta,
        target=membership,
        details={"member": membership.user.email, "role": membership.role_label},
    )
    membership.delete()


@transaction.atomic
def ownership_transfer(
    *, actor: Membership, new_owner: Membership, password: str, meta: RequestMeta = SYSTEM
) -> Membership:
    """Make `new_owner` an owner and step `actor` down to admin.

    The password is checked here, not only in the form, because handing over an
    organisation must never happen on a stolen session alone.
    """
    if not actor.is_owner:
        raise PermissionDenied("Only an owner can transfer ownership.")
    if new_owner.organization_id != actor.organization_id:
        raise PermissionDenied("That member belongs to another organisation.")
    if new_owner.id == actor.id:
        raise ValidationError("Choose another member.")
    if not actor.user.check_password(password):
        raise ValidationError("The password is not correct.")
    organization = actor.organization
    _owner_ids_locked(organization)
    previous = new_owner.role_label
    new_owner.role, new_owner.custom_role = RoleName.OWNER, None
    new_owner.save(update_fields=["role", "custom_role"])
    actor.role, actor.custom_role = RoleName.ADMIN, None
    actor.save(update_fields=["role", "custom_role"])
    audit_record(
        action="organization.ownership_transferred",
        actor=actor.user,
        organization=organization,
        meta=meta,
        target=new_owner,
        details={"from": actor.user.email, "to": new_owner.user.email, "previous_role": previous},
    )
    send_templated_email(
        to=[new_owner.user.email, actor.user.email],
        template="ownership_transferred",
        context={
            "organization": organization.name,
            "new_owner": new_owner.user.get_full_name(),
            "old_owner": actor.user.get_full_name(),
            "settings_url": absolute_url(reverse("accounts:organization_settings")),
        },
    )
    return new_owner


# -- Invitations ---------------------------------------------------------------------


def invitation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def invitation_create(
    *, actor: Membership, email: str, role: str, custom_role: Role | None = None, meta: RequestMeta = SYSTEM
) -> tuple[Invitation, str]:
    """Invite `email` into the actor's organisation; returns the invitation and raw token.

    The raw token exists only in the e-mailed link; the database keeps its SHA-256, so
    a leaked database cannot be turned into working invitation links. Inviting an
    address with a pending invitation replaces that invitation.
    """
    organization = actor.organization
    if not actor.has_perm("members:invite"):
        raise PermissionDenied("Your role does not include “members:invite”.")
    email = email.strip().lower()
    _check_role_choice(organization=organization, role=role, custom_role=custom_role)
    if role == RoleName.OWNER and not actor.is_owner:
        raise ValidationError("Only an owner can invite an owner.")
    _require_within(
        actor,
        role_permissions(role=role, custom_role=custom_role),
        "You can't invite someone with permissions that your own role does not include.",
    )
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise ValidationError(f"{email} is already a member of {organization.name}.")
    now = timezone.now()
    superseded = Invitation.objects.filter(
        organization=organization, email__iexact=email, accepted_at=None, revoked_at=None, expires_at__gt=now
    )
    for old in superseded:
        old.revoked_at = now
        old.save(update_fields=["revoked_at"])
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        custom_role=custom_role,
        token_hash=invitation_token_hash(token),
        invited_by=actor.user,
        created_at=now,
        expires_at=now + timedelta(days=settings.INVITATION_MAX_AGE_DAYS),
    )
    audit_record(
        action="invitation.created",
        actor=actor.user,
        organization=organization,
        meta=meta,
        target=invitation,
        details={"email": email, "role": role if custom_role is None else custom_role.name},
    )
    send_templated_email(
        to=email,
        template="invitation",
        context={
            "organization": organization.name,
            "inviter": actor.user.get_full_name(),
            "role": custom_role.name if custom_role else RoleName(role).label,
            "accept_url": absolute_url(reverse("accounts:invitation_accept", kwargs={"token": token})),
            "expires_at": invitation.expires_at,
        },
    )
    return invitation, token


def invitation_revoke(*, invitation: Invitation, actor: Membership, meta: RequestMeta = SYSTEM) -> Invitation:
    if not actor.has_perm("members:invite"):
        raise PermissionDenied("Your role does not include “members:invite”.")
    if invitation.organization_id != actor.organization_id:
        raise PermissionDenied("That invitation belongs to another organisation.")
    if invitation.status != Invitation.Status.PENDING:
        raise ValidationError("Only a pending invitation can be revoked.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        action="invitation.revoked",
        actor=actor.user,
        organization=invitation.organization,
        meta=meta,
        target=invitation,
        details={"email": invitation.email},
    )
    return invitation


class InvitationRefused(ValidationError):
    """An invitation that can't be accepted; `status_code` is what the page answers."""

    def __init__(self, message: str, *, status_code: int = 400):
        super().__init__(message)
        self.status_code = status_code


def invitation_check(*, invitation: Invitation, user: User | None) -> None:
    """Raise InvitationRefused unless `user` may accept `invitation` now."""
    status = invitation.status
    if status == Invitation.Status.ACCEPTED:
        raise InvitationRefused("This invitation has already been used.")
    if status == Invitation.Status.REVOKED:
        raise InvitationRefused("This invitation was withdrawn. Ask for a new one.")
    if status == Invitation.Status.EXPIRED:
        raise InvitationRefused("This invitation has expired. Ask for a new one.")
    if user is None:
        return
    if user.email.lower() != invitation.email.lower():
        raise InvitationRefused(
            f"This invitation was sent to another e-mail address. You are signed in as {user.email}."
        )
    if not user.email_verified:
        raise InvitationRefused("Verify your e-mail address before accepting the invitation.")


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User, meta: RequestMeta = SYSTEM) -> Membership:
    """Join the organisation; a repeated accept (a double click) returns the same membership."""
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("organization", "custom_role")
        .get(pk=invitation.pk)
    )
    existing = Membership.objects.filter(organization=invitation.organization, user=user).first()
    if existing is not None and invitation.accepted_by_id == user.id:
        return existing
    invitation_check(invitation=invitation, user=user)
    if existing is None:
        membership = Membership.objects.create(
            user=user, organization=invitation.organization, role=invitation.role, custom_role=invitation.custom_role
        )
    else:
        # Already a member by another way (a second invitation): keep the current role,
        # so an invitation can never silently change someone's permissions.
        membership = existing
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        action="invitation.accepted",
        actor=user,
        organization=invitation.organization,
        meta=meta,
        target=invitation,
        details={"email": user.email, "role": membership.role_label},
    )
    return membership


# -- Custom roles --------------------------------------------------------------------


def _clean_role_codes(*, actor: Membership, permissions: list[str]) -> list[str]:
    codes = sorted(set(permissions))
    unknown = validate_codes(codes)
    if unknown:
        raise ValidationError(f"Unknown permissions: {', '.join(unknown)}.")
    if not codes:
        raise ValidationError("Choose at least one permission.")
    missing = sorted(set(codes) - actor.permissions)
    if missing:
        raise ValidationError(f"You can't grant permissions your own role does not include: {', '.join(missing)}.")
    return codes


def _check_role_name(*, organization: Organization, name: str, exclude: Role | None = None) -> str:
    name = name.strip()
    if not name:
        raise ValidationError("A role needs a name.")
    clash = Role.objects.filter(organization=organization, name__iexact=name)
    if exclude is not None:
        clash = clash.exclude(pk=exclude.pk)
    if clash.exists() or name.lower() in {label.lower() for label in RoleName.labels}:
        raise ValidationError(f"A role called “{name}” already exists.")
    return name


def _check_roles_manage(actor: Membership) -> None:
    if not actor.has_perm("roles:manage"):
        raise PermissionDenied("Your role does not include “roles:manage”.")


@transaction.atomic
def role_create(
    *, actor: Membership, name: str, description: str = "", permissions: list[str], meta: RequestMeta = SYSTEM
) -> Role:
    _check_roles_manage(actor)
    organization = actor.organization
    role = Role.objects.create(
        organization=organization,
        name=_check_role_name(organization=organization, name=name),
        description=description.strip(),
        permissions=_clean_role_codes(actor=actor, permissions=permissions),
    )
    audit_record(
        action="role.created",
        actor=actor.user,
        organization=organization,
        meta=meta,
        target=role,
        details={"name": role.name, "permissions": role.permissions},
    )
    return role


@transaction.atomic
def role_update(
    *,
    role: Role,
    actor: Membership,
    name: str,
    description: str = "",
    permissions: list[str],
    meta: RequestMeta = SYSTEM,
) -> Role:
    """Edit a custom role; the actor must hold everything the role grants before and after."""
    _check_roles_manage(actor)
    if role.organization_id != actor.organization_id:
        raise PermissionDenied("That role belongs to another organisation.")
    _require_within(actor, frozenset(role.permissions), "This role holds permissions your own role does not include.")
    codes = _clean_role_codes(actor=actor, permissions=permissions)
    before = list(role.permissions)
    role.name = _check_role_name(organization=role.organization, name=name, exclude=role)
    role.description = description.strip()
    role.permissions = codes
    role.save(update_fields=["name", "description", "permissions"])
    audit_record(
        action="role.updated",
        actor=actor.user,
        organization=role.organization,
        meta=meta,
        target=role,
        details={
            "name": role.name,
            "added": sorted(set(codes) - set(before)),
            "removed": sorted(set(before) - set(codes)),
        },
    )
    return role


@transaction.atomic
def role_delete(*, role: Role, actor: Membership, meta: RequestMeta = SYSTEM) -> None:
    _check_roles_manage(actor)
    if role.organization_id != actor.organization_id:
        raise PermissionDenied("That role belongs to another organisation.")
    assigned = role.memberships.count()
    if assigned:
        raise ValidationError(
            f"“{role.name}” is still the role of {assigned} member{'s' if assigned != 1 else ''}. "
            "Give them another role first."
        )
    audit_record(
        action="role.deleted",
        actor=actor.user,
        organization=role.organization,
        meta=meta,
        target=role,
        details={"name": role.name, "permissions": role.permissions},
    )
    # Pending invitations with this role go with it (Invitation.custom_role cascades).
    role.delete()


# -- Partner profile and verification ------------------------------------------------

PARTNER_PROFILE_FIELDS = (
    "legal_name",
    "registration_number",
    "country",
    "website",
    "address",
    "contact_name",
    "contact_email",
    "contact_phone",
)
# What a reviewer verified: changing any of these on a verified profile sends it back
# to review. Contact details can change freely.
PARTNER_LEGAL_FIELDS = ("legal_name", "registration_number", "country", "address")


@transaction.atomic
def partner_profile_update(
    *, profile: PartnerProfile, actor: User, data: dict[str, str], meta: RequestMeta = SYSTEM
) -> PartnerProfile:
    """Save the company profile.

    A verified profile whose legal identity (legal name, registration number, country
    or address) changes goes back to "pending review": the badge must describe the
    company staff actually checked, so the change is re-submitted automatically rather
    than left verified or silently reset to "not submitted". A pending or rejected
    profile keeps its status; a rejected one is re-submitted explicitly.
    """
    changes = {}
    for field in PARTNER_PROFILE_FIELDS:
        if field not in data:
            continue
        value = (data[field] or "").strip()
        if field == "country":
            value = value.upper()
        if getattr(profile, field) != value:
            changes[field] = value
    if not changes:
        return profile
    for field, value in changes.items():
        setattr(profile, field, value)
    update_fields = list(changes)
    resubmitted = profile.is_verified and any(field in changes for field in PARTNER_LEGAL_FIELDS)
    if resubmitted:
        profile.verification_status = PartnerProfile.Verification.PENDING
        profile.submitted_at = timezone.now()
        profile.decided_at = None
        profile.decided_by = None
        update_fields += ["verification_status", "submitted_at", "decided_at", "decided_by"]
    profile.save(update_fields=update_fields)
    audit_record(
        action="partner.profile_updated",
        actor=actor,
        organization=profile.organization,
        meta=meta,
        target=profile.organization,
        details={"fields": sorted(changes), "back_to_review": resubmitted},
    )
    return profile


@transaction.atomic
def partner_profile_submit(*, profile: PartnerProfile, actor: User, meta: RequestMeta = SYSTEM) -> PartnerProfile:
    status = profile.verification_status
    if status == PartnerProfile.Verification.PENDING:
        raise ValidationError("The profile is already waiting for review.")
    if status == PartnerProfile.Verification.VERIFIED:
        raise ValidationError("The profile is already verified.")
    missing = profile.missing_fields()
    if missing:
        labels = [str(PartnerProfile._meta.get_field(name).verbose_name) for name in missing]
        raise ValidationError(f"Complete the profile first. Missing: {', '.join(labels)}.")
    profile.verification_status = PartnerProfile.Verification.PENDING
    profile.submitted_at = timezone.now()
    profile.save(update_fields=["verification_status", "submitted_at"])
    audit_record(
        action="partner.submitted",
        actor=actor,
        organization=profile.organization,
        meta=meta,
        target=profile.organization,
    )
    return profile


@transaction.atomic
def partner_verification_decide(
    *, profile: PartnerProfile, decision: str, reason: str = "", actor: User, meta: RequestMeta = SYSTEM
) -> PartnerProfile:
    """Staff verify or reject a partner; the partner's owners and admins hear either way."""
    reason = (reason or "").strip()
    if decision == PartnerProfile.Verification.VERIFIED:
        missing = profile.missing_fields()
        if missing:
            raise ValidationError(f"The profile is incomplete ({', '.join(missing)}); it can't be verified.")
        reason = ""
    elif decision == PartnerProfile.Verification.REJECTED:
        if not reason:
            raise ValidationError("A rejection needs a reason the partner can act on.")
    else:
        raise ValidationError("The decision is either verified or rejected.")
    profile.verification_status = decision
    profile.rejection_reason = reason
    profile.decided_at = timezone.now()
    profile.decided_by = actor
    profile.save(update_fields=["verification_status", "rejection_reason", "decided_at", "decided_by"])
    organization = profile.organization
    audit_record(
        action=f"partner.{decision}",
        actor=actor,
        organization=organization,
        meta=meta,
        target=organization,
        details={"reason": reason} if reason else {},
    )
    recipients = list(
        Membership.objects.filter(organization=organization, role__in=[RoleName.OWNER, RoleName.ADMIN])
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )
    send_templated_email(
        to=recipients,
        template="partner_verified" if decision == PartnerProfile.Verification.VERIFIED else "partner_rejected",
        context={
            "organization": organization.name,
            "reason": reason,
            "profile_url": absolute_url(reverse("accounts:partner_profile")),
        },
    )
    return profile
