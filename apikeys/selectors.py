"""Reads of API keys; every lookup is scoped to one organisation (404 otherwise)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import Organization
from apikeys.models import ApiKey, KeyPolicy, KeyTemplate, OAuthApplication, RequestLog


def apikey_list(
    *,
    organization: Organization | int,
    environment: str | None = None,
    status: str | None = None,
    search: str | None = None,
) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.filter(organization=organization)
    if environment:
        keys = keys.filter(environment=environment)
    now = timezone.now()
    if status == ApiKey.Status.REVOKED:
        keys = keys.filter(revoked_at__isnull=False)
    elif status == ApiKey.Status.EXPIRED:
        keys = keys.filter(revoked_at__isnull=True, expires_at__lte=now)
    elif status == ApiKey.Status.ACTIVE:
        keys = keys.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), revoked_at__isnull=True)
    if search:
        keys = keys.filter(Q(name__icontains=search) | Q(lookup_id=search) | Q(public_id=search))
    return keys


def apikey_get(*, organization: Organization | int, public_id: str) -> ApiKey:
    """The organisation's key, or 404 (also for another organisation's key)."""
    key = ApiKey.objects.select_related("organization").filter(organization=organization, public_id=public_id).first()
    if key is None:
        raise Http404("No such API key.")
    return key


def apikey_get_many(*, organization: Organization | int, public_ids: Sequence[str]) -> list[ApiKey]:
    """All of them or 404, in the order given."""
    found = {
        key.public_id: key
        for key in ApiKey.objects.select_related("organization").filter(
            organization=organization, public_id__in=set(public_ids)
        )
    }
    missing = [pid for pid in public_ids if pid not in found]
    if missing:
        raise Http404(f"No such API key: {', '.join(missing)}.")
    return [found[pid] for pid in dict.fromkeys(public_ids)]


# ==== OAuth applications ====


def oauth_application_list(*, organization: Organization | int, environment: str | None = None) -> QuerySet:
    applications = OAuthApplication.objects.filter(organization=organization).select_related("created_by")
    if environment:
        applications = applications.filter(environment=environment)
    return applications


def oauth_application_get(*, organization: Organization | int, public_id: str) -> OAuthApplication:
    """The organisation's application, or 404 (also for another organisation's)."""
    application = (
        OAuthApplication.objects.select_related("organization", "created_by")
        .filter(organization=organization, public_id=public_id)
        .first()
    )
    if application is None:
        raise Http404("No such OAuth application.")
    return application


# ==== Templates, naming policy, request logs ====


def key_template_list(*, organization: Organization | int) -> list[KeyTemplate]:
    return list(KeyTemplate.objects.filter(organization=organization).order_by("name"))


def key_template_get(*, organization: Organization | int, public_id: str) -> KeyTemplate:
    template = KeyTemplate.objects.filter(organization=organization, public_id=public_id).first()
    if template is None:
        raise Http404("No such key template.")
    return template


def key_policy_get(*, organization: Organization | int) -> KeyPolicy | None:
    return KeyPolicy.objects.filter(organization=organization).first()


def request_log_recent(*, organization: Organization | int, key: ApiKey, limit: int) -> list[RequestLog]:
    """The newest requests made with `key`, newest first (the key detail page's usage table)."""
    return list(
        RequestLog.objects.filter(organization=organization, api_key=key).order_by("-created_at", "-id")[:limit]
    )


def request_log_client_ips(*, organization: Organization | int, since, limit: int) -> set[str]:
    """Addresses that called the API with the organisation's credentials since `since`."""
    return set(
        RequestLog.objects.filter(organization=organization, created_at__gte=since, ip__isnull=False)
        .values_list("ip", flat=True)
        .distinct()[:limit]
    )
