"""Reads shared by several views; every customer query goes through a scoped helper."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import AuditLog, Invitation, Membership, Organization, Role, User


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
