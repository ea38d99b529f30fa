"""Reads shared by several views; every customer query goes through a scoped helper."""

from __future__ import annotations

import hashlib

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import AuditLog, Invitation, Membership, Organization, PartnerProfile, Role, User


def membership_list_for_user(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user)
        .select_related("organization", "custom_role")
        .order_by("organization__name")
    )


def membership_for_session(request) -> Membership | None:
    """The membership the signed-in user is acting through, or None."""
    user = request.user
    if not user.is_authenticated:
        return None
    from accounts.middleware import SESSION_ORG_KEY

    memberships = membership_list_for_user(user=user)
    wanted = request.session.get(SESSION_ORG_KEY)
    if wanted:
        for membership in memberships:
            if membership.organization.public_id == wanted:
                return membership
    first = memberships.first()
    if first is not None:
        request.session[SESSION_ORG_KEY] = first.organization.public_id
    return first


def member_list(*, organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.filter(organization=organization).select_related("user", "custom_role")


def member_get(*, organization: Organization, public_id: str) -> Membership:
    """A membership of this organisation; 404 for anything else (no existence leak)."""
    try:
        return member_list(organization=organization).get(public_id=public_id)
    except Membership.DoesNotExist:
        raise Http404("No such member.") from None


def role_list(*, organization: Organization) -> QuerySet[Role]:
    return Role.objects.filter(organization=organization)


def role_get(*, organization: Organization, public_id: str) -> Role:
    try:
        return role_list(organization=organization).get(public_id=public_id)
    except Role.DoesNotExist:
        raise Http404("No such role.") from None


def invitation_list(*, organization: Organization) -> QuerySet[Invitation]:
    return Invitation.objects.filter(organization=organization).select_related("invited_by", "custom_role")


def invitation_get(*, organization: Organization, public_id: str) -> Invitation:
    try:
        return invitation_list(organization=organization).get(public_id=public_id)
    except Invitation.DoesNotExist:
        raise Http404("No such invitation.") from None


def audit_log_list(*, organization: Organization) -> QuerySet[AuditLog]:
    return AuditLog.objects.filter(organization=organization).select_related("actor")


def invitation_get_by_token(*, token: str) -> Invitation:
    """The invitation a raw e-mailed token points at; 404 for an unknown or altered token."""
    # Only the hash is stored, so the lookup needs no constant-time compare: an attacker
    # cannot learn anything about a stored hash from how long a miss takes.
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    try:
        return Invitation.objects.select_related("organization", "custom_role", "invited_by").get(token_hash=token_hash)
    except Invitation.DoesNotExist:
        raise Http404("No such invitation.") from None


def invitation_pending_list(*, organization: Organization) -> QuerySet[Invitation]:
    return invitation_list(organization=organization).filter(
        accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
    )


def audit_log_actions(*, organization: Organization) -> list[str]:
    """The distinct actions recorded for the organisation, for the log page's filter."""
    return list(
        AuditLog.objects.filter(organization=organization)
        .order_by("action")
        .values_list("action", flat=True)
        .distinct()
    )


def partner_profile_get(*, organization: Organization) -> PartnerProfile:
    """The partner profile of a partner organisation; 404 for developer organisations."""
    if organization.kind != Organization.Kind.PARTNER:
        raise Http404("Not a partner organisation.")
    profile, _ = PartnerProfile.objects.get_or_create(organization=organization)
    return profile
