"""Reads shared by the webhooks pages and API. Every lookup is scoped to one
organisation (and, for API keys, one mode): another organisation's ids are a 404."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Organization
from webhooks.models import Attempt, Delivery, Endpoint, Event


def _mode(queryset: QuerySet, livemode: bool | None) -> QuerySet:
    return queryset if livemode is None else queryset.filter(livemode=livemode)


def endpoint_list(*, organization: Organization, livemode: bool | None = None) -> QuerySet[Endpoint]:
    return _mode(Endpoint.objects.filter(organization=organization), livemode).order_by("-created_at", "-id")


def endpoint_get(*, organization: Organization, public_id: str, livemode: bool | None = None) -> Endpoint:
    endpoint = _mode(Endpoint.objects.filter(organization=organization, public_id=public_id), livemode).first()
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    return endpoint


def event_list(
    *, organization: Organization, livemode: bool | None = None, type: str | None = None, since: datetime | None = None
) -> QuerySet[Event]:
    events = _mode(Event.objects.filter(organization=organization), livemode)
    if type:
        events = events.filter(type=type)
    if since:
        events = events.filter(created_at__gte=since)
    return events.order_by("-created_at", "-id")


def event_get(*, organization: Organization, public_id: str, livemode: bool | None = None) -> Event:
    event = _mode(Event.objects.filter(organization=organization, public_id=public_id), livemode).first()
    if event is None:
        raise Http404("No such event.")
    return event


def delivery_list(
    *,
    organization: Organization,
    livemode: bool | None = None,
    endpoint: Endpoint | None = None,
    event: Event | None = None,
    status: str | None = None,
    type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Delivery]:
    deliveries = _mode(Delivery.objects.filter(organization=organization), livemode)
    if endpoint is not None:
        deliveries = deliveries.filter(endpoint=endpoint)
    if event is not None:
        deliveries = deliveries.filter(event=event)
    if status:
        deliveries = deliveries.filter(status=status)
    if type:
        deliveries = deliveries.filter(event_type=type)
    if since:
        deliveries = deliveries.filter(created_at__gte=since)
    if until:
        deliveries = deliveries.filter(created_at__lt=until)
    return deliveries.select_related("endpoint", "event").order_by("-created_at", "-id")


def delivery_get(*, organization: Organization, public_id: str, livemode: bool | None = None) -> Delivery:
    delivery = (
        _mode(Delivery.objects.filter(organization=organization, public_id=public_id), livemode)
        .select_related("endpoint", "event", "organization")
        .first()
    )
    if delivery is None:
        raise Http404("No such delivery.")
    return delivery


def attempt_get(*, delivery: Delivery, public_id: str) -> Attempt:
    attempt = delivery.attempts.filter(public_id=public_id).first()
    if attempt is None:
        raise Http404("No such attempt.")
    return attempt
