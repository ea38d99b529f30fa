"""The webhooks API under /api/v1: event types, endpoints, events, deliveries, attempts.

A key acts in its own mode: a test key sees and changes only test endpoints, events
and deliveries. A signed-in member sees both modes (filter with `?environment=`).
Reads need `webhooks:read`, changes `webhooks:manage`, secrets `webhooks:secrets`.
"""

from __future__ import annotations

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from accounts.models import Organization, User
from accounts.services import RequestMeta
from apikeys.authentication import KeyContext
from portal.api import PROBLEM, PortalAPIView, paginated, service_errors
from webhooks import catalogue, selectors, services
from webhooks.api.serializers import (
    AttemptOutput,
    DeliveryOutput,
    DisableInput,
    EndpointCreateInput,
    EndpointOutput,
    EndpointUpdateInput,
    EndpointWithSecretOutput,
    EventOutput,
    EventTypeOutput,
    RecoverInput,
    RecoverOutput,
    ResendInput,
    SecretOutput,
    TestEventInput,
)
from webhooks.models import Delivery

READ = ("webhooks:read",)
MANAGE = ("webhooks:manage",)


class Caller:
    def __init__(self, request):
        context = request.auth if isinstance(request.auth, KeyContext) else None
        if context is not None:
            self.organization = Organization.objects.get(pk=context.organization_id)
            self.actor = User.objects.filter(pk=context.created_by_id).first() if context.created_by_id else None
            self.livemode: bool | None = context.livemode
        else:
            self.organization = request._request.membership.organization
            self.actor = request.user
            self.livemode = None
        self.key_mode = context is not None
        self.meta = RequestMeta.from_request(request)
        self.request = request

    def filter_mode(self) -> bool | None:
        """The key's mode, or for members the optional `?environment=` filter."""
        if self.key_mode:
            return self.livemode
        env = self.request.query_params.get("environment")
        if env in {"live", "test"}:
            return env == "live"
        return None

    def endpoint(self, public_id: str):
        return selectors.endpoint_get(organization=self.organization, public_id=public_id, livemode=self.livemode)

    def event(self, public_id: str):
        return selectors.event_get(organization=self.organization, public_id=public_id, livemode=self.livemode)

    def delivery(self, public_id: str):
        return selectors.delivery_get(organization=self.organization, public_id=public_id, livemode=self.livemode)


def _time_param(request, name: str):
    raw = request.query_params.get(name)
    if not raw:
        return None
    value = parse_datetime(raw)
    if value is None:
        raise exceptions.ValidationError({name: ["Use an ISO 8601 date-time, e.g. 2025-01-31T12:00:00Z."]})
    return value


class EventTypeListView(PortalAPIView):
    required_scopes = READ
    pagination_class = None  # the whole catalogue in one answer, not the paged envelope

    @extend_schema(
        operation_id="event_types_list",
        responses={
            200: inline_serializer(
                "EventTypeList",
                {
                    "data": EventTypeOutput(many=True),
                    "meta": inline_serializer("EventTypeListMeta", {"total": serializers.IntegerField()}),
                },
            )
        },
    )
    def get(self, request):
        data = EventTypeOutput(catalogue.EVENT_TYPES, many=True).data
        return Response({"data": data, "meta": {"total": len(data)}})


class EndpointListCreateView(PortalAPIView):
    required_scopes = {"GET": READ, "POST": MANAGE}

    @extend_schema(
        operation_id="webhook_endpoints_list",
        parameters=[
            OpenApiParameter("page", int),
            OpenApiParameter("per_page", int),
            OpenApiParameter("environment", str, enum=["live", "test"]),
        ],
        responses={200: EndpointOutput(many=True), 400: PROBLEM, 401: PROBLEM, 403: PROBLEM},
    )
    def get(self, request):
        caller = Caller(request)
        endpoints = selectors.endpoint_list(organization=caller.organization, livemode=caller.filter_mode())
        return Response(paginated(request, endpoints, lambda rows: EndpointOutput(rows, many=True).data))

    @extend_schema(
        operation_id="webhook_endpoints_create",
        request=EndpointCreateInput,
        responses={201: EndpointWithSecretOutput, 400: PROBLEM, 403: PROBLEM},
    )
    def post(self, request):
        return self.idempotent(request, lambda: self._create(request))

    def _create(self, request):
        caller = Caller(request)
        data = EndpointCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        environment = values.pop("environment") or ("live" if caller.livemode else "test")
        if caller.key_mode and (environment == "live") != caller.livemode:
            raise exceptions.ValidationError(
                {"environment": [f"A {'live' if caller.livemode else 'test'} key manages only its own mode."]}
            )
        with service_errors():
            endpoint = services.endpoint_create(
                organization=caller.organization,
                actor=caller.actor,
                livemode=environment == "live",
                meta=caller.meta,
                **values,
            )
        body = EndpointWithSecretOutput(endpoint, context={"secret": endpoint.secret}).data
        return Response(body, status=status.HTTP_201_CREATED)


class EndpointDetailView(PortalAPIView):
    required_scopes = {"GET": READ, "PATCH": MANAGE, "DELETE": MANAGE}

    @extend_schema(operation_id="webhook_endpoints_retrieve", responses={200: EndpointOutput, 404: PROBLEM})
    def get(self, request, endpoint_id: str):
        return Response(EndpointOutput(Caller(request).endpoint(endpoint_id)).data)

    @extend_schema(
        operation_id="webhook_endpoints_update",
        request=EndpointUpdateInput,
        responses={200: EndpointOutput, 400: PROBLEM, 404: PROBLEM},
    )
    def patch(self, request, endpoint_id: str):
        caller = Caller(request)
        endpoint = caller.endpoint(endpoint_id)
        data = EndpointUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        with service_errors():
            endpoint = services.endpoint_update(
                endpoint=endpoint, actor=caller.actor, meta=caller.meta, **data.validated_data
            )
        return Response(EndpointOutput(endpoint).data)

    @extend_schema(operation_id="webhook_endpoints_delete", responses={204: None, 404: PROBLEM})
    def delete(self, request, endpoint_id: str):
        caller = Caller(request)
        services.endpoint_delete(endpoint=caller.endpoint(endpoint_id), actor=caller.actor, meta=caller.meta)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointEnableView(PortalAPIView):
    required_scopes = MANAGE

    @extend_schema(operation_id="webhook_endpoints_enable", request=None, responses={200: EndpointOutput, 404: PROBLEM})
    def post(self, request, endpoint_id: str):
        caller = Caller(request)
        endpoint = services.endpoint_enable(endpoint=caller.endpoint(endpoint_id), actor=caller.actor, meta=caller.meta)
        return Response(EndpointOutput(endpoint).data)


class EndpointDisableView(PortalAPIView):
    required_scopes = MANAGE

    @extend_schema(
        operation_id="webhook_endpoints_disable",
        request=DisableInput,
        responses={200: EndpointOutput, 400: PROBLEM, 404: PROBLEM},
    )
    def post(self, request, endpoint_id: str):
        caller = Caller(request)
        data = DisableInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.endpoint_disable(
            endpoint=caller.endpoint(endpoint_id),
            reason=data.validated_data["reason"] or "Disabled by a member.",
            actor=caller.actor,
            meta=caller.meta,
        )
        return Response(EndpointOutput(endpoint).data)


class EndpointSecretView(PortalAPIView):
    required_scopes = ("webhooks:secrets",)

    @extend_schema(operation_id="webhook_endpoints_secret", responses={200: SecretOutput, 404: PROBLEM})
    def get(self, request, endpoint_id: str):
        caller = Caller(request)
        endpoint = caller.endpoint(endpoint_id)
        secret = services.endpoint_reveal_secret(endpoint=endpoint, actor=caller.actor, meta=caller.meta)
        response = Response({"secret": secret, "previous_secret_valid_until": endpoint.previous_secret_valid_until})
        response["Cache-Control"] = "no-store"
        return response


class EndpointRotateSecretView(PortalAPIView):
    required_scopes = ("webhooks:manage", "webhooks:secrets")

    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        request=None,
        responses={200: SecretOutput, 404: PROBLEM},
        description="A new secret signs from now on; the previous one also signs for 24 hours.",
    )
    def post(self, request, endpoint_id: str):
        return self.idempotent(request, lambda: self._rotate(request, endpoint_id))

    def _rotate(self, request, endpoint_id: str):
        caller = Caller(request)
        endpoint = caller.endpoint(endpoint_id)
        secret = services.endpoint_rotate_secret(endpoint=endpoint, actor=caller.actor, meta=caller.meta)
        response = Response({"secret": secret, "previous_secret_valid_until": endpoint.previous_secret_valid_until})
        response["Cache-Control"] = "no-store"
        return response


class EndpointTestView(PortalAPIView):
    required_scopes = MANAGE

    @extend_schema(
        operation_id="webhook_endpoints_send_test",
        request=TestEventInput,
        responses={202: DeliveryOutput, 404: PROBLEM},
        description="Record a webhook.test event carrying the chosen type's example and deliver it to this endpoint.",
    )
    def post(self, request, endpoint_id: str):
        return self.idempotent(request, lambda: self._send(request, endpoint_id))

    def _send(self, request, endpoint_id: str):
        caller = Caller(request)
        endpoint = caller.endpoint(endpoint_id)
        data = TestEventInput(data=request.data)
        data.is_valid(raise_exception=True)
        delivery = services.endpoint_send_test(endpoint=endpoint, actor=caller.actor, type=data.validated_data["type"])
        delivery.refresh_from_db()
        return Response(DeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)


class EndpointRecoverView(PortalAPIView):
    required_scopes = MANAGE

    @extend_schema(
        operation_id="webhook_endpoints_recover",
        request=RecoverInput,
        responses={200: RecoverOutput, 400: PROBLEM, 404: PROBLEM},
    )
    def post(self, request, endpoint_id: str):
        return self.idempotent(request, lambda: self._recover(request, endpoint_id))

    def _recover(self, request, endpoint_id: str):
        caller = Caller(request)
        endpoint = caller.endpoint(endpoint_id)
        data = RecoverInput(data=request.data)
        data.is_valid(raise_exception=True)
        count = services.deliveries_recover(
            endpoint=endpoint, since=data.validated_data["since"], actor=caller.actor, meta=caller.meta
        )
        if count:
            services.deliveries_dispatch()
        return Response({"recovered": count})


class EventListView(PortalAPIView):
    required_scopes = READ

    @extend_schema(
        operation_id="events_list",
        parameters=[
            OpenApiParameter("type", str),
            OpenApiParameter("since", str, description="ISO 8601 date-time."),
            OpenApiParameter("environment", str, enum=["live", "test"]),
            OpenApiParameter("page", int),
            OpenApiParameter("per_page", int),
        ],
        responses={200: EventOutput(many=True), 400: PROBLEM},
    )
    def get(self, request):
        caller = Caller(request)
        events = selectors.event_list(
            organization=caller.organization,
            livemode=caller.filter_mode(),
            type=request.query_params.get("type") or None,
            since=_time_param(request, "since"),
        )
        return Response(paginated(request, events, lambda rows: EventOutput(rows, many=True).data))


class EventDetailView(PortalAPIView):
    required_scopes = READ

    @extend_schema(operation_id="events_retrieve", responses={200: EventOutput, 404: PROBLEM})
    def get(self, request, event_id: str):
        return Response(EventOutput(Caller(request).event(event_id)).data)


class EventResendView(PortalAPIView):
    required_scopes = MANAGE

    @extend_schema(
        operation_id="events_resend",
        request=ResendInput,
        responses={202: DeliveryOutput, 400: PROBLEM, 404: PROBLEM},
        description="Deliver the event to the endpoint again, with the same webhook-id.",
    )
    def post(self, request, event_id: str):
        return self.idempotent(request, lambda: self._resend(request, event_id))

    def _resend(self, request, event_id: str):
        caller = Caller(request)
        event = caller.event(event_id)
        data = ResendInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = caller.endpoint(data.validated_data["endpoint"])
        with service_errors():
            delivery = services.event_resend(event=event, endpoint=endpoint, actor=caller.actor, meta=caller.meta)
        delivery.refresh_from_db()
        return Response(DeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)


class DeliveryListView(PortalAPIView):
    required_scopes = READ

    @extend_schema(
        operation_id="webhook_deliveries_list",
        parameters=[
            OpenApiParameter("endpoint", str),
            OpenApiParameter("event", str),
            OpenApiParameter("status", str, enum=[s for s, _ in Delivery.Status.choices]),
            OpenApiParameter("type", str),
            OpenApiParameter("since", str, description="ISO 8601 date-time."),
            OpenApiParameter("until", str, description="ISO 8601 date-time."),
            OpenApiParameter("environment", str, enum=["live", "test"]),
            OpenApiParameter("page", int),
            OpenApiParameter("per_page", int),
        ],
        responses={200: DeliveryOutput(many=True), 400: PROBLEM, 404: PROBLEM},
    )
    def get(self, request):
        caller = Caller(request)
        params = request.query_params
        state = params.get("status") or None
        if state and state not in Delivery.Status.values:
            raise exceptions.ValidationError({"status": [f"One of {', '.join(Delivery.Status.values)}."]})
        deliveries = selectors.delivery_list(
            organization=caller.organization,
            livemode=caller.filter_mode(),
            endpoint=caller.endpoint(params["endpoint"]) if params.get("endpoint") else None,
            event=caller.event(params["event"]) if params.get("event") else None,
            status=state,
            type=params.get("type") or None,
            since=_time_param(request, "since"),
            until=_time_param(request, "until"),
        )
        return Response(paginated(request, deliveries, lambda rows: DeliveryOutput(rows, many=True).data))


class DeliveryDetailView(PortalAPIView):
    required_scopes = READ

    @extend_schema(operation_id="webhook_deliveries_retrieve", responses={200: DeliveryOutput, 404: PROBLEM})
    def get(self, request, delivery_id: str):
        return Response(DeliveryOutput(Caller(request).delivery(delivery_id)).data)


class DeliveryRetryView(PortalAPIView):
    required_scopes = MANAGE

    @extend_schema(operation_id="webhook_deliveries_retry", request=None, responses={202: DeliveryOutput, 404: PROBLEM})
    def post(self, request, delivery_id: str):
        return self.idempotent(request, lambda: self._retry(request, delivery_id))

    def _retry(self, request, delivery_id: str):
        caller = Caller(request)
        delivery = services.delivery_retry(delivery=caller.delivery(delivery_id), actor=caller.actor, meta=caller.meta)
        return Response(DeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)


class AttemptListView(PortalAPIView):
    required_scopes = READ

    @extend_schema(operation_id="webhook_attempts_list", responses={200: AttemptOutput(many=True), 404: PROBLEM})
    def get(self, request, delivery_id: str):
        delivery = Caller(request).delivery(delivery_id)
        attempts = delivery.attempts.order_by("-started_at", "-id")
        return Response(paginated(request, attempts, lambda rows: AttemptOutput(rows, many=True).data))


class AttemptDetailView(PortalAPIView):
    required_scopes = READ

    @extend_schema(operation_id="webhook_attempts_retrieve", responses={200: AttemptOutput, 404: PROBLEM})
    def get(self, request, delivery_id: str, attempt_id: str):
        delivery = Caller(request).delivery(delivery_id)
        return Response(AttemptOutput(selectors.attempt_get(delivery=delivery, public_id=attempt_id)).data)
