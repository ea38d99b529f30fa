"""Writes of the marketplace: partners create, edit, submit and unpublish integrations;
staff publish or reject them. Every change is audited; partners hear of each decision.

Only verified partner organisations may create, edit or submit integrations. Each
integration is backed by an OAuth application of the partner's organisation (the
authorization code grant with PKCE), created and kept in step through apikeys.services,
so its redirect URIs are validated the same way as every other application's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Membership, Organization, PartnerProfile, RoleName, User
from accounts.permissions import BY_CODE
from accounts.services import SYSTEM, RequestMeta, audit_record
from apikeys import services as apikey_services
from apikeys.models import Environment
from apikeys.services import LOOPBACK_HOSTS
from marketplace.models import Category, Integration, IntegrationVersion
from marketplace.services.search import integration_search_refresh
from portal.emails import absolute_url, send_templated_email
from portal.lib.money import MoneyError, normalize_currency

MAX_SCOPES = 30
FIELD_LABELS = {
    "legal_name": "legal name",
    "registration_number": "registration number",
    "country": "country",
    "website": "website",
    "address": "address",
    "contact_name": "contact name",
    "contact_email": "contact e-mail",
}


def partner_blockers(organization: Organization) -> list[str]:
    """Why this organisation cannot publish integrations yet, in words it can act on (empty: it can)."""
    if not organization.is_partner:
        return ["Only partner organisations publish integrations; this is a developer organisation."]
    profile = PartnerProfile.objects.filter(organization=organization).first()
    if profile is not None and profile.is_verified:
        return []
    reasons = ["Only verified partners can publish integrations."]
    missing = profile.missing_fields() if profile is not None else list(PartnerProfile.REQUIRED_FIELDS)
    if missing:
        reasons.append(
            "Complete the partner profile (missing: " + ", ".join(FIELD_LABELS.get(f, f) for f in missing) + ")."
        )
    status = profile.verification_status if profile is not None else PartnerProfile.Verification.UNSUBMITTED
    if status == PartnerProfile.Verification.PENDING:
        reasons.append("The profile is waiting for staff review.")
    elif status == PartnerProfile.Verification.REJECTED:
        reasons.append(f"Verification was refused: {profile.rejection_reason}")
    else:
        reasons.append("Submit the partner profile for verification.")
    return reasons


def _require_member(actor: Membership, organization: Organization) -> None:
    if actor.organization_id != organization.pk or not actor.has_perm("integrations:manage"):
        raise PermissionDenied("Your role does not include “integrations:manage”.")


def _require_verified_partner(organization: Organization) -> None:
    blockers = partner_blockers(organization)
    if blockers:
        raise ValidationError(" ".join(blockers))


URL_FIELDS = ("website_url", "docs_url", "support_url")
MAX_URL_LENGTH = 200


def _url_error(url: str, *, environment: str | None = None) -> str | None:
    """Why a listing URL is refused, or None. With an environment (the install URL), http is
    allowed only on a loopback host in test mode, as for the OAuth redirect URIs."""
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        return "Give an absolute https:// URL."
    if parts.username or parts.password:
        return "The URL must not carry a user name or password."
    if len(url) > MAX_URL_LENGTH:
        return f"At most {MAX_URL_LENGTH} characters."
    loopback_test = environment == Environment.TEST and parts.hostname in LOOPBACK_HOSTS
    if environment is not None and parts.scheme == "http" and not loopback_test:
        return "Use https. Plain http is allowed only for 127.0.0.1 or localhost in test mode."
    return None


def _environment_of(integration: Integration | None, default: str) -> str:
    application = integration.oauth_application if integration is not None else None
    # An integration that lost its application gets the strict (live) rule.
    return application.environment if application is not None else (default if integration is None else "live")


def _clean_listing(
    values: dict[str, Any], *, integration: Integration | None, environment: str = Environment.TEST
) -> dict[str, Any]:
    """Validate the listing's own fields; raises a ValidationError keyed by field."""
    errors: dict[str, list[str]] = {}
    cleaned = dict(values)
    for field in (*URL_FIELDS, "install_url"):
        if field in cleaned:
            cleaned[field] = (cleaned[field] or "").strip()
            if cleaned[field]:
                problem = _url_error(
                    cleaned[field],
                    environment=_environment_of(integration, environment) if field == "install_url" else None,
                )
                if problem:
                    errors[field] = [problem]
    for field, limit in (("name", 80), ("tagline", 140), ("version", 32)):
        if field in cleaned:
            cleaned[field] = (cleaned[field] or "").strip()
            if not cleaned[field]:
                errors[field] = ["This field is required."]
            elif len(cleaned[field]) > limit:
                errors[field] = [f"At most {limit} characters."]
    if "description" in cleaned:
        cleaned["description"] = (cleaned["description"] or "").strip()
        if not cleaned["description"]:
            errors["description"] = ["Describe what the integration does."]
    if "slug" in cleaned or integration is None:
        slug = slugify(cleaned.get("slug") or cleaned.get("name") or "")[:80]
        if not slug:
            errors["slug"] = ["Give a slug of letters, digits and hyphens."]
        elif Integration.objects.filter(slug=slug).exclude(pk=getattr(integration, "pk", None)).exists():
            errors["slug"] = [f"The slug “{slug}” is taken; choose another."]
        cleaned["slug"] = slug
    if "category" in cleaned and not isinstance(cleaned["category"], Category):
        errors["category"] = ["Choose a category."]
    if "scopes" in cleaned:
        scopes = sorted(set(cleaned["scopes"] or []))
        unknown = [s for s in scopes if s not in BY_CODE]
        if unknown:
            errors["scopes"] = [f"Unknown scope {s!r}." for s in unknown]
        elif not scopes:
            errors["scopes"] = ["Ask for at least one scope."]
        elif len(scopes) > MAX_SCOPES:
            errors["scopes"] = [f"At most {MAX_SCOPES} scopes."]
        cleaned["scopes"] = scopes
    if "pricing_model" in cleaned:
        model = cleaned["pricing_model"]
        price = cleaned.get("price_minor") or 0
        free_tier = cleaned.get("free_tier_calls") or 0
        try:
            cleaned["currency"] = normalize_currency(cleaned.get("currency") or "USD")
        except MoneyError as exc:
            errors["currency"] = [str(exc)]
        if model == Integration.Pricing.FREE:
            price, free_tier = 0, 0
        elif model in (Integration.Pricing.PER_CALL, Integration.Pricing.MONTHLY):
            if price <= 0:
                errors["price_minor"] = ["A paid integration needs a price above zero."]
            if model == Integration.Pricing.PER_CALL:
                free_tier = 0
        else:
            errors["pricing_model"] = ["Choose free, per call or monthly."]
        if free_tier < 0:
            errors["free_tier_calls"] = ["The free tier cannot be negative."]
        cleaned["price_minor"], cleaned["free_tier_calls"] = price, free_tier
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def integration_create(
    *,
    actor: Membership,
    name: str,
    tagline: str,
    description: str,
    category: Category,
    scopes: list[str],
    redirect_uris: list[str],
    slug: str = "",
    environment: str = "test",
    website_url: str = "",
    docs_url: str = "",
    support_url: str = "",
    install_url: str = "",
    pricing_model: str = Integration.Pricing.FREE,
    price_minor: int = 0,
    currency: str = "USD",
    free_tier_calls: int = 0,
    version: str = "1.0.0",
    release_notes: str = "",
    meta: RequestMeta = SYSTEM,
) -> tuple[Integration, str]:
    """A draft integration and its OAuth application; also returns the client secret, shown once."""
    organization = actor.organization
    _require_member(actor, organization)
    _require_verified_partner(organization)
    values = _clean_listing(
        {
            "name": name,
            "slug": slug,
            "tagline": tagline,
            "description": description,
            "category": category,
            "scopes": scopes,
            "pricing_model": pricing_model,
            "price_minor": price_minor,
            "currency": currency,
            "free_tier_calls": free_tier_calls,
            "version": version,
            "website_url": website_url,
            "docs_url": docs_url,
            "support_url": support_url,
            "install_url": install_url,
        },
        integration=None,
        environment=environment,
    )
    application, secret = apikey_services.oauth_application_create(
        organization=organization,
        actor_membership=actor,
        name=values["name"],
        environment=environment,
        grant_type="authorization_code",
        redirect_uris=redirect_uris,
        scopes=values["scopes"],
        description=f"Backs the marketplace integration “{values['name']}”.",
        meta=meta,
    )
    integration = Integration.objects.create(
        organization=organization,
        release_notes=(release_notes or "").strip(),
        oauth_application=application,
        created_by=actor.user,
        **values,
    )
    audit_record(
        action="integration.created",
        actor=actor.user,
        organization=organization,
        meta=meta,
        target=integration,
        details={"name": integration.name, "slug": integration.slug, "application": application.public_id},
    )
    return integration, secret


LISTING_FIELDS = (
    "name",
    "slug",
    "tagline",
    "description",
    "category",
    "website_url",
    "docs_url",
    "support_url",
    "install_url",
    "scopes",
    "pricing_model",
    "price_minor",
    "currency",
    "free_tier_calls",
    "version",
    "release_notes",
)


@transaction.atomic
def integration_update(
    *,
    integration: Integration,
    actor: Membership,
    redirect_uris: list[str] | None = None,
    meta: RequestMeta = SYSTEM,
    **changes: Any,
) -> Integration:
    """Change a draft, rejected or unpublished listing; fields left out stay as they are."""
    unknown = set(changes) - set(LISTING_FIELDS)
    if unknown:
        raise TypeError(f"Unknown integration fields: {', '.join(sorted(unknown))}")
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    _require_member(actor, integration.organization)
    _require_verified_partner(integration.organization)
    if not integration.is_editable:
        raise ValidationError(
            "A submitted integration can't be edited while staff review it."
            if integration.status == Integration.Status.SUBMITTED
            else "Unpublish the integration before editing it."
        )
    if "pricing_model" in changes:
        for field in ("price_minor", "currency", "free_tier_calls"):
            changes.setdefault(field, getattr(integration, field))
    cleaned = _clean_listing(changes, integration=integration)
    changed = [field for field, value in cleaned.items() if getattr(integration, field) != value]
    for field in changed:
        setattr(integration, field, cleaned[field])
    application = integration.oauth_application
    if application is not None and (redirect_uris is not None or "scopes" in changed or "name" in changed):
        apikey_services.oauth_application_update(
            application=application,
            actor_membership=actor,
            name=integration.name if "name" in changed else None,
            redirect_uris=redirect_uris,
            scopes=integration.scopes if "scopes" in changed else None,
            meta=meta,
        )
    if changed:
        integration.updated_at = timezone.now()
        integration.save(update_fields=[*changed, "updated_at"])
        integration_search_refresh(integration_ids=[integration.pk])
        audit_record(
            action="integration.updated",
            actor=actor.user,
            organization=integration.organization,
            meta=meta,
            target=integration,
            details={"fields": changed},
        )
    return integration


@transaction.atomic
def integration_submit(*, integration: Integration, actor: Membership, meta: RequestMeta = SYSTEM) -> Integration:
    """Send a draft (or a rejected or unpublished listing) to the staff review queue."""
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    _require_member(actor, integration.organization)
    _require_verified_partner(integration.organization)
    if not integration.is_editable:
        raise ValidationError(f"A {integration.get_status_display().lower()} integration can't be submitted.")
    if integration.oauth_application_id is None:
        raise ValidationError("The integration has lost its OAuth application; create the integration again.")
    integration.status = Integration.Status.SUBMITTED
    integration.submitted_at = timezone.now()
    integration.save(update_fields=["status", "submitted_at"])
    audit_record(
        action="integration.submitted",
        actor=actor.user,
        organization=integration.organization,
        meta=meta,
        target=integration,
        details={"version": integration.version},
    )
    return integration


def _partner_recipients(organization: Organization) -> list[str]:
    return list(
        Membership.objects.filter(organization=organization, role__in=[RoleName.OWNER, RoleName.ADMIN])
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )


@transaction.atomic
def integration_review(
    *, integration: Integration, reviewer: User, decision: str, notes: str = "", meta: RequestMeta = SYSTEM
) -> Integration:
    """Staff publish or reject a submitted integration; the partner's owners and admins hear either way.

    Publishing records the submitted version in the changelog (once per version).
    """
    if not (reviewer and reviewer.is_staff):
        raise PermissionDenied("Only staff review integrations.")
    notes = (notes or "").strip()
    if decision not in ("publish", "reject"):
        raise ValidationError("The decision is either publish or reject.")
    if decision == "reject" and not notes:
        raise ValidationError({"notes": ["A rejection needs notes the partner can act on."]})
    integration = Integration.objects.select_for_update().select_related("organization").get(pk=integration.pk)
    if integration.status != Integration.Status.SUBMITTED:
        raise ValidationError(f"Only submitted integrations are reviewed; this one is {integration.status}.")
    now = timezone.now()
    integration.reviewer_notes = notes
    integration.reviewed_by = reviewer
    integration.reviewed_at = now
    if decision == "publish":
        integration.status = Integration.Status.PUBLISHED
        integration.published_at = now
        IntegrationVersion.objects.get_or_create(
            integration=integration,
            version=integration.version,
            defaults={"notes": integration.release_notes, "published_at": now},
        )
    else:
        integration.status = Integration.Status.REJECTED
    integration.save(update_fields=["status", "reviewer_notes", "reviewed_by", "reviewed_at", "published_at"])
    if decision == "publish":
        integration_search_refresh(integration_ids=[integration.pk])
    audit_record(
        action=f"integration.{'published' if decision == 'publish' else 'rejected'}",
        actor=reviewer,
        organization=integration.organization,
        meta=meta,
        target=integration,
        details={"notes": notes} if notes else {},
    )
    send_templated_email(
        to=_partner_recipients(integration.organization),
        template="integration_published" if decision == "publish" else "integration_rejected",
        context={
            "organization": integration.organization.name,
            "integration": integration.name,
            "notes": notes,
            "status_url": absolute_url(reverse("marketplace:status", args=[integration.public_id])),
            "listing_url": absolute_url(reverse("marketplace:detail", args=[integration.slug])),
        },
    )
    return integration


@transaction.atomic
def integration_unpublish(
    *, integration: Integration, actor: Membership | User, reason: str = "", meta: RequestMeta = SYSTEM
) -> Integration:
    """Take a published integration out of the marketplace: by the partner, or by staff (with a reason)."""
    integration = Integration.objects.select_for_update().select_related("organization").get(pk=integration.pk)
    if isinstance(actor, User):
        if not actor.is_staff:
            raise PermissionDenied("Only staff unpublish another organisation's integration.")
        if not (reason or "").strip():
            raise ValidationError({"reason": ["Tell the partner why the integration was unpublished."]})
        user = actor
    else:
        _require_member(actor, integration.organization)
        user = actor.user
    if integration.status != Integration.Status.PUBLISHED:
        raise ValidationError("Only a published integration can be unpublished.")
    integration.status = Integration.Status.UNPUBLISHED
    fields = ["status"]
    if isinstance(actor, User):
        integration.reviewer_notes = reason.strip()
        fields.append("reviewer_notes")
    integration.save(update_fields=fields)
    audit_record(
        action="integration.unpublished",
        actor=user,
        organization=integration.organization,
        meta=meta,
        target=integration,
        details={"reason": reason.strip()} if reason and reason.strip() else {},
    )
    if isinstance(actor, User):
        send_templated_email(
            to=_partner_recipients(integration.organization),
            template="integration_unpublished",
            context={
                "organization": integration.organization.name,
                "integration": integration.name,
                "notes": reason.strip(),
                "status_url": absolute_url(reverse("marketplace:status", args=[integration.public_id])),
            },
        )
    return integration
