"""The keys management API under /api/v1/keys: small views, one service call each.

The caller is an API key (with the `keys:*` scopes; it acts for its organisation and
the audit log names the key's creator) or a signed-in member. A key sees and manages
only keys of its own environment, and grants at most the scopes it holds itself.
"""

from __future__ import annotations

from datetime import timedelta

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response

from accounts.models import Membership
from accounts.services import RequestMeta
from apikeys import selectors, services
from apikeys.api.serializers import (
    GRACE_CHOICES,
    CurrentKeyOutput,
    KeyBulkInput,
    KeyBulkOutput,
    KeyCreateInput,
    KeyOutput,
    KeyRevokeInput,
    KeyRotateInput,
    KeyUpdateInput,
    KeyWithSecretOutput,
    LeakReportInput,
    LeakReportOutput,
    OAuthApplicationCreateInput,
    OAuthApplicationOutput,
    OAuthApplicationUpdateInput,
    OAuthApplicationWithSecretOutput,
)
from apikeys.authentication import KeyContext
from apikeys.models import KeyTemplate
from portal.api import PROBLEM, PortalAPIView, apply_sort, paginated, service_errors
from portal.problems import ProblemException

SORTABLE = {"created_at": "created_at", "name": "name", "expires_at": "expires_at", "last_used_at": "last_used_at"}


class Caller:
    """Who is calling: the organisation, the acting membership and the scope ceiling."""

    def __init__(self, request):
        self.context = request.auth if isinstance(request.auth, KeyContext) else None
        if self.context is not None:
            membership = (
                Membership.objects.select_related("user", "organization", "custom_role")
                .filter(user_id=self.context.created_by_id, organization_id=self.context.organization_id)
                .first()
            )
            if membership is None:
                raise ProblemException(
                    status_code=403,
                    detail="The member who created this key has left the organisation; create a new key.",
                    slug="forbidden",
                    title="Forbidden",
                )
            self.membership = membership
            self.ceiling = self.context.scopes
            self.environment = self.context.environment
        else:
            self.membership = request._request.membership
            self.ceiling = None
            self.environment = None
        self.organization = self.membership.organization
        self.meta = RequestMeta.from_request(request)

    def key(self, public_id: str):
        key = selectors.apikey_get(organization=self.organization, public_id=public_id)
        if self.environment and key.environment != self.environment:
            raise Http404("No such API key.")
        return key


def _output(keys) -> list[dict]:
    return KeyOutput(keys, many=True).data


class KeyListCreateView(PortalAPIView):
    required_scopes = {"GET": ("keys:read",), "POST": ("keys:manage",)}

    @extend_schema(
        operation_id="keys_list",
        parameters=[
            OpenApiParameter("page", int),
            OpenApiParameter("per_page", int, description="At most 100."),
            OpenApiParameter("sort", str, description="created_at, name, expires_at or last_used_at, :asc or :desc."),
            OpenApiParameter("environment", str, enum=["live", "test"]),
            OpenApiParameter("status", str, enum=["active", "expired", "revoked"]),
            OpenApiParameter("search", str),
            OpenApiParameter("fields", str, description="Comma-separated fields to return."),
        ],
        responses={200: KeyOutput(many=True), 400: PROBLEM, 401: PROBLEM, 403: PROBLEM},
    )
    def get(self, request):
        caller = Caller(request)
        keys = selectors.apikey_list(
            organization=caller.organization,
            environment=caller.environment or request.query_params.get("environment") or None,
            status=request.query_params.get("status") or None,
            search=request.query_params.get("search", "").strip() or None,
        ).select_related("created_by")
        keys = apply_sort(request, keys, allowed=SORTABLE, default="-created_at")
        return Response(paginated(request, keys, _output))

    @extend_schema(
        operation_id="keys_create",
        request=KeyCreateInput,
        responses={201: KeyWithSecretOutput, 400: PROBLEM, 403: PROBLEM, 422: PROBLEM},
    )
    def post(self, request):
        return self.idempotent(request, lambda: self._create(request))

    def _create(self, request):
        caller = Caller(request)
        data = KeyCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        template = None
        if values.pop("template"):
            template = KeyTemplate.objects.filter(
                organization=caller.organization, public_id=data.validated_data["template"]
            ).first()
            if template is None:
                raise exceptions.ValidationError({"template": ["No such key template."]})
        environment = values.pop("environment") or (template.environment if template else "") or "test"
        if caller.environment and environment != caller.environment:
            raise exceptions.ValidationError(
                {"environment": [f"A {caller.environment} key can only create {caller.environment} keys."]}
            )
        with service_errors():
            key, secret = services.apikey_create(
                organization=caller.organization,
                actor_membership=caller.membership,
                environment=environment,
                template=template,
                scope_ceiling=caller.ceiling,
                meta=caller.meta,
                **values,
            )
        return Response(KeyWithSecretOutput(key, context={"secret": secret}).data, status=status.HTTP_201_CREATED)


class KeyDetailView(PortalAPIView):
    required_scopes = {"GET": ("keys:read",), "PATCH": ("keys:manage",)}

    @extend_schema(operation_id="keys_retrieve", responses={200: KeyOutput, 404: PROBLEM})
    def get(self, request, key_id: str):
        return Response(KeyOutput(Caller(request).key(key_id)).data)

    @extend_schema(
        operation_id="keys_update", request=KeyUpdateInput, responses={200: KeyOutput, 400: PROBLEM, 404: PROBLEM}
    )
    def patch(self, request, key_id: str):
        caller = Caller(request)
        key = caller.key(key_id)
        data = KeyUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        with service_errors():
            key = services.apikey_update(
                key=key, actor=caller.membership, scope_ceiling=caller.ceiling, meta=caller.meta, **data.validated_data
            )
        return Response(KeyOutput(key).data)


class KeyRotateView(PortalAPIView):
    required_scopes = ("keys:manage",)

    @extend_schema(
        operation_id="keys_rotate", request=KeyRotateInput, responses={200: KeyWithSecretOutput, 404: PROBLEM}
    )
    def post(self, request, key_id: str):
        return self.idempotent(request, lambda: self._rotate(request, key_id))

    def _rotate(self, request, key_id: str):
        caller = Caller(request)
        key = caller.key(key_id)
        data = KeyRotateInput(data=request.data)
        data.is_valid(raise_exception=True)
        with service_errors():
            key, secret = services.apikey_rotate(
                key=key,
                actor=caller.membership,
                grace=timedelta(seconds=GRACE_CHOICES[data.validated_data["grace"]]),
                meta=caller.meta,
            )
        return Response(KeyWithSecretOutput(key, context={"secret": secret}).data)


class KeyRevokeView(PortalAPIView):
    required_scopes = ("keys:manage",)

    @extend_schema(operation_id="keys_revoke", request=KeyRevokeInput, responses={200: KeyOutput, 404: PROBLEM})
    def post(self, request, key_id: str):
        return self.idempotent(request, lambda: self._revoke(request, key_id))

    def _revoke(self, request, key_id: str):
        caller = Caller(request)
        key = caller.key(key_id)
        data = KeyRevokeInput(data=request.data)
        data.is_valid(raise_exception=True)
        with service_errors():
            key = services.apikey_revoke(
                key=key, actor=caller.membership, reason=data.validated_data["reason"], meta=caller.meta
            )
        return Response(KeyOutput(key).data)


class KeyBulkView(PortalAPIView):
    required_scopes = ("keys:manage",)
    rate_limit_cost = 5

    @extend_schema(
        operation_id="keys_bulk",
        request=KeyBulkInput,
        responses={200: KeyBulkOutput, 400: PROBLEM, 404: PROBLEM},
        description="Revoke, rotate, extend the expiry of, or set the scopes of up to 100 keys; all or nothing.",
    )
    def post(self, request):
        return self.idempotent(request, lambda: self._bulk(request))

    def _bulk(self, request):
        caller = Caller(request)
        data = KeyBulkInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        keys = selectors.apikey_get_many(organization=caller.organization, public_ids=values["ids"])
        if caller.environment and any(key.environment != caller.environment for key in keys):
            raise Http404("No such API key.")
        body: dict = {"action": values["action"]}
        with service_errors():
            if values["action"] == "revoke":
                services.apikey_bulk_revoke(
                    keys=keys, actor=caller.membership, reason=values["reason"], meta=caller.meta
                )
            elif values["action"] == "rotate":
                rotated = services.apikey_bulk_rotate(
                    keys=keys,
                    actor=caller.membership,
                    grace=timedelta(seconds=GRACE_CHOICES[values["grace"]]),
                    meta=caller.meta,
                )
                body["secrets"] = {key.public_id: secret for key, secret in rotated}
            elif values["action"] == "extend":
                services.apikey_bulk_set_expiry(
                    keys=keys, actor=caller.membership, expires_at=values["expires_at"], meta=caller.meta
                )
            else:
                services.apikey_bulk_set_scopes(
                    keys=keys,
                    actor=caller.membership,
                    scopes=values["scopes"],
                    scope_ceiling=caller.ceiling,
                    meta=caller.meta,
                )
        body["count"] = len(keys)
        body["data"] = _output(keys)
        return Response(body)


class CurrentKeyView(PortalAPIView):
    """The calling key as the hot path sees it; answers from the process cache."""

    @extend_schema(operation_id="keys_current", responses={200: CurrentKeyOutput, 401: PROBLEM})
    def get(self, request):
        if not isinstance(request.auth, KeyContext):
            raise ProblemException(
                status_code=401,
                detail="Call this with an API key.",
                slug="unauthenticated",
                title="Authentication required",
            )
        return Response(CurrentKeyOutput(request.auth).data)


class LeakReportView(PortalAPIView):
    """For secret scanners: report a key found in public. Answers the same whatever the string."""

    authentication_classes: list = []
    permission_classes: list = []
    anonymous_requests_per_minute = 30

    @extend_schema(
        operation_id="keys_report_leaked",
        request=LeakReportInput,
        responses={202: LeakReportOutput, 400: PROBLEM, 429: PROBLEM},
        auth=[],
    )
    def post(self, request):
        data = LeakReportInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.apikey_report_leaked(raw=data.validated_data["key"], meta=RequestMeta.from_request(request))
        return Response({"received": True}, status=status.HTTP_202_ACCEPTED)


# ==== OAuth applications ====


def _application(caller: Caller, app_id: str):
    application = selectors.oauth_application_get(organization=caller.organization, public_id=app_id)
    if caller.environment and application.environment != caller.environment:
        raise Http404("No such OAuth application.")
    return application


def _within_ceiling(caller: Caller, scopes) -> None:
    """A key or token managing applications grants at most the scopes it holds itself."""
    if scopes is not None and caller.ceiling is not None:
        beyond = sorted(set(scopes) - caller.ceiling)
        if beyond:
            raise exceptions.ValidationError(
                {"scopes": [f"This credential cannot grant {scope}: it does not hold it." for scope in beyond]}
            )


class OAuthApplicationListCreateView(PortalAPIView):
    required_scopes = {"GET": ("oauth_apps:read",), "POST": ("oauth_apps:manage",)}

    @extend_schema(
        operation_id="oauth_applications_list",
        parameters=[
            OpenApiParameter("page", int),
            OpenApiParameter("per_page", int, description="At most 100."),
            OpenApiParameter("sort", str, description="created_at or name, :asc or :desc."),
            OpenApiParameter("environment", str, enum=["live", "test"]),
            OpenApiParameter("fields", str, description="Comma-separated fields to return."),
        ],
        responses={200: OAuthApplicationOutput(many=True), 400: PROBLEM, 401: PROBLEM, 403: PROBLEM},
    )
    def get(self, request):
        caller = Caller(request)
        applications = selectors.oauth_application_list(
            organization=caller.organization,
            environment=caller.environment or request.query_params.get("environment") or None,
        )
        applications = apply_sort(
            request, applications, allowed={"created_at": "created", "name": "name"}, default="-created"
        )
        return Response(paginated(request, applications, lambda rows: OAuthApplicationOutput(rows, many=True).data))

    @extend_schema(
        operation_id="oauth_applications_create",
        request=OAuthApplicationCreateInput,
        responses={201: OAuthApplicationWithSecretOutput, 400: PROBLEM, 403: PROBLEM},
        description="Create a confidential client. The response carries the client secret, shown only this once.",
    )
    def post(self, request):
        return self.idempotent(request, lambda: self._create(request))

    def _create(self, request):
        caller = Caller(request)
        data = OAuthApplicationCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values["environment"] = values["environment"] or caller.environment or "test"
        if caller.environment and values["environment"] != caller.environment:
            raise exceptions.ValidationError(
                {
                    "environment": [
                        f"A {caller.environment} credential can only create {caller.environment} applications."
                    ]
                }
            )
        _within_ceiling(caller, values["scopes"])
        with service_errors():
            application, secret = services.oauth_application_create(
                organization=caller.organization, actor_membership=caller.membership, meta=caller.meta, **values
            )
        return Response(
            OAuthApplicationWithSecretOutput(application, context={"secret": secret}).data,
            status=status.HTTP_201_CREATED,
        )


class OAuthApplicationDetailView(PortalAPIView):
    required_scopes = {"GET": ("oauth_apps:read",), "PATCH": ("oauth_apps:manage",), "DELETE": ("oauth_apps:manage",)}

    @extend_schema(operation_id="oauth_applications_retrieve", responses={200: OAuthApplicationOutput, 404: PROBLEM})
    def get(self, request, app_id: str):
        return Response(OAuthApplicationOutput(_application(Caller(request), app_id)).data)

    @extend_schema(
        operation_id="oauth_applications_update",
        request=OAuthApplicationUpdateInput,
        responses={200: OAuthApplicationOutput, 400: PROBLEM, 404: PROBLEM},
    )
    def patch(self, request, app_id: str):
        caller = Caller(request)
        application = _application(caller, app_id)
        data = OAuthApplicationUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        _within_ceiling(caller, data.validated_data.get("scopes"))
        with service_errors():
            application = services.oauth_application_update(
                application=application, actor_membership=caller.membership, meta=caller.meta, **data.validated_data
            )
        return Response(OAuthApplicationOutput(application).data)

    @extend_schema(
        operation_id="oauth_applications_delete",
        responses={204: None, 404: PROBLEM},
        description="Delete the application and revoke every token it holds.",
    )
    def delete(self, request, app_id: str):
        caller = Caller(request)
        application = _application(caller, app_id)
        with service_errors():
            services.oauth_application_delete(
                application=application, actor_membership=caller.membership, meta=caller.meta
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


class OAuthApplicationRotateSecretView(PortalAPIView):
    required_scopes = ("oauth_apps:manage",)

    @extend_schema(
        operation_id="oauth_applications_rotate_secret",
        request=None,
        responses={200: OAuthApplicationWithSecretOutput, 404: PROBLEM},
        description="A new client secret, shown once; the old one stops working at once.",
    )
    def post(self, request, app_id: str):
        return self.idempotent(request, lambda: self._rotate(request, app_id))

    def _rotate(self, request, app_id: str):
        caller = Caller(request)
        application = _application(caller, app_id)
        with service_errors():
            application, secret = services.oauth_application_rotate_secret(
                application=application, actor_membership=caller.membership, meta=caller.meta
            )
        return Response(OAuthApplicationWithSecretOutput(application, context={"secret": secret}).data)
