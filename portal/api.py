"""Shared DRF pieces: the hot-path base view, the list envelope, idempotent POSTs.

Every API view subclasses `PortalAPIView`. Its request path (DESIGN.md, "The request
path"): authenticate (API key from the per-process cache, or the session), rate-limit
(one Redis round trip that also checks the key's revocation marker and ships earlier
capture records), check the view's `required_scopes`, run the view, then capture one
record of the request into the in-process buffer (apikeys.capture).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys import capture
from apikeys.authentication import KeyContext, revoked_credential
from apikeys.models import IdempotencyRecord
from apikeys.permissions import HasScopes
from apikeys.ratelimit import Tier, limiter, tiers_for_key
from portal.pagination import count_capped
from portal.problems import ProblemException, register_problem_type

register_problem_type(
    "rate-limit-penalty", "Temporarily blocked", "The caller kept going past its limit; wait for Retry-After."
)
register_problem_type(
    "idempotency-key-reused", "Idempotency key reused", "The key was used before with a different request."
)
register_problem_type(
    "idempotency-key-in-use", "Request in progress", "A request with this key is still running; retry shortly."
)

IDEMPOTENCY_TTL = 24 * 60 * 60
SESSION_REQUESTS_PER_HOUR = 3600  # the portal's own pages calling the API as a signed-in member
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20
# `meta.total` is exact up to this many rows. An exact COUNT(*) reads every matching row
# (170 ms at 71k of a million ledger rows); counting a LIMIT COUNT_CAP + 1 subquery stops early.
COUNT_CAP = 10_000


class ListEnvelopeSchema:
    """Not a paginator: drf-spectacular asks a view's `pagination_class` how a `many=True`
    answer is wrapped, and ours are wrapped in the list envelope that `paginated` builds."""

    def get_schema_operation_parameters(self, view) -> list:
        return []  # the views declare page, per_page, fields and sort themselves

    def get_paginated_response_schema(self, schema: dict) -> dict:
        # drf-spectacular builds list examples from the leaves' `example`s.
        first = "https://portal.example/api/v1/customers?page=1&per_page=20"
        link = {"type": "string", "format": "uri", "nullable": True, "example": first}
        count = {"type": "integer", "minimum": 0, "example": 1}
        return {
            "type": "object",
            "required": ["data", "meta", "links"],
            "properties": {
                "data": schema,
                "meta": {
                    "type": "object",
                    "required": ["page", "per_page", "total", "total_pages"],
                    "properties": {"page": count, "per_page": count, "total": count, "total_pages": count},
                    "description": (
                        f"`total` is exact up to {COUNT_CAP:,} rows; beyond that it is {COUNT_CAP:,}, "
                        "`total_pages` follows from it and `total_is_capped: true` is added."
                    ),
                    "example": {"page": 1, "per_page": 20, "total": 1, "total_pages": 1},
                },
                "links": {
                    "type": "object",
                    "required": ["first", "prev", "next", "last"],
                    "properties": {"first": link, "prev": link, "next": link, "last": link},
                    "example": {"first": first, "prev": None, "next": None, "last": first},
                },
            },
        }


# How every view documents its error answers in the schema.
PROBLEM = OpenApiResponse(description="An RFC 9457 problem document (`application/problem+json`).")


@contextmanager
def service_errors():
    """Django ValidationErrors from services become DRF ones (and so 400 problems)."""
    try:
        yield
    except DjangoValidationError as exc:
        raise exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages})


class PortalAPIView(APIView):
    """Key or session authentication, rate limit, scope check, capture.

    Views declare `required_scopes` (a tuple, or a dict of method -> tuple) and may set
    `rate_limit_cost` (an expensive endpoint costs more than 1) or, for endpoints open
    to anonymous callers, `anonymous_requests_per_minute` (per IP).
    """

    permission_classes = [HasScopes]
    pagination_class = ListEnvelopeSchema  # for the schema only; lists call `paginated`
    required_scopes: tuple[str, ...] | dict[str, tuple[str, ...]] = ()
    rate_limit_cost = 1
    anonymous_requests_per_minute: int | None = None

    def initial(self, request, *args, **kwargs):
        request._portal_started = time.perf_counter()
        self.format_kwarg = self.get_format_suffix(**kwargs)
        request.accepted_renderer, request.accepted_media_type = self.perform_content_negotiation(request)
        request.version, request.versioning_scheme = self.determine_version(request, *args, **kwargs)
        try:
            self.perform_authentication(request)
        except (ProblemException, exceptions.AuthenticationFailed) as exc:
            if exc.status_code == 401:
                self.penalise_invalid_credential(request)
            raise
        # Before the scope check, so probing for scopes counts against the limit too.
        self.enforce_rate_limit(request)
        self.check_permissions(request)
        self.check_throttles(request)

    def penalise_invalid_credential(self, request) -> None:
        """An address that keeps presenting invalid credentials is blocked for growing periods."""
        ip = request.META.get("REMOTE_ADDR")
        if not ip:
            return
        blocked_ms = limiter.strike(f"ip:{ip}")
        if blocked_ms:
            retry = max(1, math.ceil(blocked_ms / 1000))
            raise ProblemException(
                status_code=429,
                detail=f"Too many invalid credentials from this address; it is blocked for {retry} s.",
                slug="rate-limit-penalty",
                title="Temporarily blocked",
                headers={"Retry-After": str(retry)},
            )

    def enforce_rate_limit(self, request) -> None:
        context = request.auth if isinstance(request.auth, KeyContext) else None
        ip = request.META.get("REMOTE_ADDR") or None
        if context is not None:
            tiers = tiers_for_key(context, ip)
            subject = f"key:{context.credential_pk}"
        elif request.user and request.user.is_authenticated:
            tiers = [Tier("user", f"user:{request.user.pk}", SESSION_REQUESTS_PER_HOUR, 3600)]
            subject = f"user:{request.user.pk}"
        elif self.anonymous_requests_per_minute:
            tiers = [Tier("anon", f"anon:{type(self).__name__}:{ip}", self.anonymous_requests_per_minute, 60)]
            subject = f"ip:{ip}"
        else:
            return  # the permission check answers 401
        decision = limiter.check(
            tiers=tiers,
            cost=self.rate_limit_cost,
            subject=subject,
            lookup_id=context.lookup_id if context is not None else None,
            ip_subject=f"ip:{ip}" if ip else None,
        )
        if decision.revoked:
            raise revoked_credential(context)
        request._ratelimit = decision
        if decision.blocked:
            raise ProblemException(
                status_code=429,
                detail=f"Too many requests past the limit; this client is blocked for {decision.retry_after} s.",
                slug="rate-limit-penalty",
                title="Temporarily blocked",
                headers={"Retry-After": str(decision.retry_after)},
            )
        if not decision.allowed:
            raise ProblemException(
                status_code=429,
                detail=(
                    f"The {decision.tier.name} rate limit of {decision.limit} requests is used up; "
                    f"retry in {decision.retry_after} s."
                ),
                slug="rate-limited",
                title="Too many requests",
                headers=decision.headers(),
            )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        decision = getattr(request, "_ratelimit", None)
        if decision is not None:
            for name, value in decision.headers().items():
                response[name] = value
        context = request.auth if isinstance(getattr(request, "_auth", None), KeyContext) else None
        if context is not None:
            if not response.is_rendered and hasattr(response, "render"):
                response.render()
            started = getattr(request, "_portal_started", None)
            latency = int((time.perf_counter() - started) * 1000) if started else 0
            capture.record(request, response, context, latency)
        return response

    # ---- helpers for subclasses --------------------------------------------------------

    def idempotent(self, request, produce: Callable[[], Response]) -> Response:
        return idempotent_response(request, produce)


# ---- idempotency -------------------------------------------------------------------------


def _caller_id(request) -> str:
    if isinstance(request.auth, KeyContext):
        return request.auth.credential_id
    return f"user:{request.user.pk}"


def idempotent_response(request, produce: Callable[[], Response]) -> Response:
    """Run `produce` once per `Idempotency-Key` and caller; replay its first answer for 24 h.

    The record is claimed by a unique constraint before the work starts, so two
    concurrent requests cannot both run: the second gets a 409. The same key with a
    different method, path or body is a 422. A request that fails with an error
    problem (4xx raised, or any 5xx) is not stored, so the client may retry it.
    """
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return produce()
    if len(key) > 255:
        raise ProblemException(
            status_code=400,
            detail="Idempotency-Key must be at most 255 characters.",
            slug="bad-request",
            title="Bad request",
        )
    fingerprint = hashlib.sha256(
        b"\0".join([request.method.encode(), request.path.encode(), request.body or b""])
    ).hexdigest()
    caller = _caller_id(request)
    IdempotencyRecord.objects.filter(
        caller=caller, key=key, created_at__lt=timezone.now() - timedelta(seconds=IDEMPOTENCY_TTL)
    ).delete()
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(caller=caller, key=key, fingerprint=fingerprint)
    except IntegrityError:
        return _replay(IdempotencyRecord.objects.get(caller=caller, key=key), fingerprint)
    try:
        response = produce()
    except Exception:
        record.delete()
        raise
    if response.status_code >= 500:
        record.delete()
        return response
    record.status_code = response.status_code
    record.body = json.loads(json.dumps(response.data, cls=DjangoJSONEncoder))
    record.save(update_fields=["status_code", "body"])
    return response


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise ProblemException(
            status_code=422,
            detail="This Idempotency-Key was already used with a different request.",
            slug="idempotency-key-reused",
            title="Idempotency key reused",
        )
    if record.status_code is None:
        raise ProblemException(
            status_code=409,
            detail="A request with this Idempotency-Key is still being processed.",
            slug="idempotency-key-in-use",
            title="Request in progress",
        )
    return Response(record.body, status=record.status_code, headers={"Idempotent-Replayed": "true"})


def idempotency_records_purge() -> int:
    """Housekeeping (beat, hourly): forget answers older than 24 h."""
    cutoff = timezone.now() - timedelta(seconds=IDEMPOTENCY_TTL)
    return IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()[0]


# ---- the list envelope -------------------------------------------------------------------


def _positive_int(request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ProblemException(
            status_code=400,
            detail=f"{name} must be a positive integer.",
            slug="validation-error",
            title="Your request has invalid fields",
            errors={name: ["Must be a positive integer."]},
        )
    return value


def apply_sort(request, queryset: QuerySet, *, allowed: dict[str, str], default: str) -> QuerySet:
    """`?sort=name:asc,created_at:desc` over the fields in `allowed` (public name -> ORM field)."""
    raw = request.query_params.get("sort", "").strip()
    if not raw:
        return queryset.order_by(default, "-pk")
    ordering = []
    for part in raw.split(","):
        name, _, direction = part.strip().partition(":")
        direction = direction or "asc"
        if name not in allowed or direction not in {"asc", "desc"}:
            raise ProblemException(
                status_code=400,
                detail=f"Cannot sort by {part!r}; use one of {', '.join(sorted(allowed))} with :asc or :desc.",
                slug="validation-error",
                title="Your request has invalid fields",
                errors={"sort": [f"Unknown sort {part!r}."]},
            )
        ordering.append(("-" if direction == "desc" else "") + allowed[name])
    return queryset.order_by(*ordering, "-pk")


def paginated(
    request, queryset: QuerySet, serialize: Callable[[list], list[dict[str, Any]]], *, count_cap: int | None = None
) -> dict[str, Any]:
    """The list envelope of DESIGN.md: data, meta {page, per_page, total, total_pages}, links.

    `meta.total` is exact up to `count_cap` matching rows (default `COUNT_CAP`; a search may
    ask for less). Beyond it the envelope reports `total: count_cap`, adds
    `total_is_capped: true` (the key is absent otherwise) and
    derives `total_pages` and `links.last` from the cap. Pages past `total_pages` are still
    served, and `links.next` keeps pointing onwards while a capped list returns full pages,
    so a client that follows `next` until it is null still sees every row.
    """
    per_page = min(_positive_int(request, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
    page = _positive_int(request, "page", 1)
    total, capped = count_capped(queryset, count_cap or COUNT_CAP)
    total_pages = max(1, math.ceil(total / per_page))
    in_range = page <= total_pages or capped
    items = list(queryset[(page - 1) * per_page : page * per_page]) if in_range else []
    has_next = page < total_pages or (capped and len(items) == per_page)

    def link(number: int | None) -> str | None:
        if number is None:
            return None
        params = request.query_params.copy()
        params["page"] = str(number)
        params["per_page"] = str(per_page)
        return request.build_absolute_uri(request.path) + "?" + urlencode(sorted(params.items()))

    fields = [f for f in request.query_params.get("fields", "").split(",") if f]
    data = serialize(items)
    if fields:
        data = [{k: v for k, v in row.items() if k in fields or k == "id"} for row in data]
    meta: dict[str, Any] = {"page": page, "per_page": per_page, "total": total, "total_pages": total_pages}
    if capped:
        meta["total_is_capped"] = True
    return {
        "data": data,
        "meta": meta,
        "links": {
            "first": link(1),
            "prev": link(page - 1) if page > 1 and (capped or page <= total_pages + 1) else None,
            "next": link(page + 1) if has_next else None,
            "last": link(total_pages),
        },
    }
