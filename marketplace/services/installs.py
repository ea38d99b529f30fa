"""Writes of installs: an organisation installs an integration (an OAuth consent) and
uninstalls it; the request capture counts the calls made through each install.

An install is an apikeys DelegatedGrant (the partner's application may act for the
installing organisation, in one environment, within the approved scopes) and an
`Installation` row, created together. Installing the same integration again in the same
organisation and environment renews the consent of the active install instead of adding
one. Uninstalling revokes the grant, which deletes every token issued under it at once.
docs/decisions.md, "Marketplace installs".
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, RoleName, User
from accounts.permissions import BY_CODE
from accounts.services import SYSTEM, RequestMeta, audit_record
from apikeys import services as apikey_services
from apikeys.models import Environment
from marketplace.models import Installation, Integration
from portal.emails import absolute_url, send_templated_email


def install_scope_problems(*, integration: Integration, membership: Membership, scopes: list[str]) -> list[str]:
    """Why `membership` cannot approve these scopes, in words (empty: it can).

    The consent page shows these before the member approves; `installation_create`
    refuses with the same words.
    """
    problems = []
    unknown = [code for code in scopes if code not in BY_CODE]
    if unknown:
        problems.append("Unknown scope " + ", ".join(unknown) + ".")
    beyond = [code for code in scopes if code in BY_CODE and code not in integration.scopes]
    if beyond:
        problems.append(f"{integration.name} does not list " + ", ".join(beyond) + " among the access it asks for.")
    lacking = [code for code in scopes if code in BY_CODE and not membership.has_perm(code)]
    if lacking:
        problems.append(
            f"Your role in {membership.organization.name} lacks "
            + ", ".join(lacking)
            + ", so you can't grant it; ask an admin of the organisation to install."
        )
    return problems


def _clean(*, integration: Integration, actor: Membership, environment: str, scopes: list[str]) -> list[str]:
    if not integration.is_published or integration.oauth_application_id is None:
        raise ValidationError("This integration is not available in the marketplace.")
    if not actor.has_perm("installs:manage"):
        raise PermissionDenied(f"Your role in {actor.organization.name} does not include “installs:manage”.")
    errors: dict[str, list[str]] = {}
    if environment not in Environment.values:
        errors["environment"] = ["Choose test or live."]
    elif environment == Environment.LIVE and not actor.has_perm("keys:live"):
        errors["environment"] = [
            f"Your role in {actor.organization.name} lacks keys:live, needed to give access to live data."
        ]
    scopes = sorted(set(scopes or []))
    if not scopes:
        errors["scopes"] = ["The integration asked for no access."]
    else:
        problems = install_scope_problems(integration=integration, membership=actor, scopes=scopes)
        if problems:
            errors["scopes"] = problems
    if errors:
        raise ValidationError(errors)
    return scopes


@transaction.atomic
def installation_create(
    *,
    integration: Integration,
    actor: Membership,
    environment: str,
    scopes: list[str],
    meta: RequestMeta = SYSTEM,
) -> Installation:
    """Install `integration` in the actor's organisation and `environment`, granting `scopes`.

    The active install of the same integration, organisation and environment is reused
    (its consent renewed with these scopes), so installing twice never counts twice.
    Raises ValidationError (per field: environment, scopes) or PermissionDenied; nothing
    changes then.
    """
    scopes = _clean(integration=integration, actor=actor, environment=environment, scopes=scopes)
    organization = actor.organization
    existing = (
        Installation.objects.select_for_update(of=("self",))
        .select_related("grant")
        .filter(integration=integration, organization=organization, environment=environment)
        .filter(status=Installation.Status.ACTIVE)
        .first()
    )
    if existing is not None:
        previous = existing.scopes
        apikey_services.delegated_grant_set_scopes(grant=existing.grant, scopes=scopes, granted_by=actor.user)
        existing.scopes = scopes
        existing.save(update_fields=["scopes"])
        audit_record(
            action="installation.renewed",
            actor=actor.user,
            organization=organization,
            meta=meta,
            target=existing,
            details={"integration": integration.public_id, "scopes": [previous, scopes]},
        )
        return existing
    grant = apikey_services.delegated_grant_create(
        application=integration.oauth_application,
        organization=organization,
        environment=environment,
        scopes=scopes,
        granted_by=actor.user,
    )
    try:
        with transaction.atomic():
            installation = Installation.objects.create(
                integration=integration,
                organization=organization,
                environment=environment,
                scopes=scopes,
                grant=grant,
                installed_by=actor.user,
            )
    except IntegrityError:
        # Another request installed it between our read and this insert.
        raise ValidationError("This integration was just installed here by someone else; reload.") from None
    Integration.objects.filter(pk=integration.pk).update(install_count=F("install_count") + 1)
    audit_record(
        action="installation.created",
        actor=actor.user,
        organization=organization,
        meta=meta,
        target=installation,
        details={"integration": integration.public_id, "environment": environment, "scopes": scopes},
    )
    return installation


def _partner_recipients(installation: Installation) -> list[str]:
    return list(
        Membership.objects.filter(
            organization_id=installation.integration.organization_id, role__in=[RoleName.OWNER, RoleName.ADMIN]
        )
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )


@transaction.atomic
def installation_uninstall(*, installation: Installation, actor: Membership | User, meta: RequestMeta = SYSTEM) -> int:
    """Uninstall: every token the integration holds for this install stops working at once.

    `actor` is a member of the installing organisation with installs:manage, or staff
    (from admin). Returns how many access tokens were revoked. Uninstalling twice is a
    ValidationError.
    """
    if isinstance(actor, Membership):
        if actor.organization_id != installation.organization_id or not actor.has_perm("installs:manage"):
            raise PermissionDenied("Your role does not include “installs:manage”.")
        user = actor.user
    else:
        if not actor.is_staff:
            raise PermissionDenied("Only staff can uninstall without a membership.")
        user = actor
    installation = (
        Installation.objects.select_for_update(of=("self",)).select_related("integration").get(pk=installation.pk)
    )
    if not installation.is_active:
        raise ValidationError("This integration is already uninstalled.")
    installation.status = Installation.Status.UNINSTALLED
    installation.uninstalled_at = timezone.now()
    installation.uninstalled_by = user
    installation.save(update_fields=["status", "uninstalled_at", "uninstalled_by"])
    revoked = apikey_services.delegated_grant_revoke(grant=installation.grant) if installation.grant_id else 0
    Integration.objects.filter(pk=installation.integration_id).update(install_count=Greatest(F("install_count") - 1, 0))
    integration = installation.integration
    audit_record(
        action="installation.uninstalled",
        actor=user,
        organization=installation.organization,
        meta=meta,
        target=installation,
        details={"integration": integration.public_id, "tokens_revoked": revoked},
    )
    send_templated_email(
        to=_partner_recipients(installation),
        template="integration_uninstalled",
        context={
            "integration": integration.name,
            "organization": installation.organization.name,
            "environment": installation.get_environment_display(),
            "installs_url": absolute_url(reverse("marketplace:partner_installs")),
        },
    )
    return revoked


def installation_record_calls(*, usage: dict[int, tuple[int, datetime]]) -> None:
    """Add flushed calls to their installs: `usage` is {grant id: (calls, last call at)}.

    Runs inside the request-log flush's transaction (receiver of
    apikeys.signals.grant_requests_flushed), so the counts and the logs agree. The last
    call only ever moves forward: an older batch flushed late must not move it back.
    """
    for grant_id, (calls, last_at) in usage.items():
        Installation.objects.filter(grant_id=grant_id).update(call_count=F("call_count") + calls)
        Installation.objects.filter(grant_id=grant_id).filter(
            Q(last_call_at__isnull=True) | Q(last_call_at__lt=last_at)
        ).update(last_call_at=last_at)


def on_grant_requests_flushed(sender, usage: dict[int, tuple[int, datetime]], **kwargs) -> None:
    installation_record_calls(usage=usage)
