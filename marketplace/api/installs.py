"""The caller's installed integrations under /api/v1/marketplace/installations (read only).

Scope `installs:read`. An API key or token sees its own environment's installs; a
signed-in member sees both and may filter with `?environment=`. Another organisation's
installation answers 404. Installing is an OAuth consent in the browser, uninstalling a
button on /marketplace/installed/; neither is an API call.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from accounts.permissions import BY_CODE
from apikeys.authentication import KeyContext
from apikeys.models import Environment
from marketplace import selectors
from marketplace.models import Installation
from portal.api import PROBLEM, PortalAPIView, paginated
from portal.problems import ProblemException

READ = ("installs:read",)


class _PartnerOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()


class _IntegrationRefOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    slug = serializers.SlugField()
    name = serializers.CharField()
    partner = _PartnerOutput(source="organization")


class _ScopeOutput(serializers.Serializer):
    code = serializers.CharField()
    description = serializers.CharField()


class InstallationOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    integration = _IntegrationRefOutput()
    environment = serializers.ChoiceField(choices=Environment.choices)
    livemode = serializers.BooleanField()
    status = serializers.ChoiceField(choices=Installation.Status.choices)
    scopes = serializers.SerializerMethodField(help_text="What the integration may access, in words.")
    installed_at = serializers.DateTimeField()
    installed_by = serializers.EmailField(source="installed_by.email", allow_null=True, default=None)
    uninstalled_at = serializers.DateTimeField(allow_null=True)
    last_call_at = serializers.DateTimeField(allow_null=True, help_text="Its last API call for this organisation.")
    call_count = serializers.IntegerField(help_text="API calls it made through this install, all time.")

    def get_object(self, installation) -> str:
        return "installation"

    def get_scopes(self, installation) -> list[dict]:
        return _ScopeOutput(
            [
                {"code": code, "description": BY_CODE[code].description if code in BY_CODE else code}
                for code in installation.scopes
            ],
            many=True,
        ).data


def _bad_filter(name: str, message: str) -> ProblemException:
    return ProblemException(
        status_code=400,
        detail=message,
        slug="validation-error",
        title="Your request has invalid fields",
        errors={name: [message]},
    )


def _organization_id(request) -> int:
    if isinstance(request.auth, KeyContext):
        return request.auth.organization_id
    return request._request.membership.organization_id  # HasScopes checked there is one


class InstallationListView(PortalAPIView):
    required_scopes = READ

    @extend_schema(
        operation_id="marketplace_installations_list",
        tags=["marketplace"],
        parameters=[
            OpenApiParameter("status", str, enum=list(Installation.Status.values)),
            OpenApiParameter(
                "environment", str, enum=list(Environment.values), description="Members only; keys see their own."
            ),
            OpenApiParameter("page", int),
            OpenApiParameter("per_page", int, description="At most 100."),
        ],
        responses={200: InstallationOutput(many=True), 400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 429: PROBLEM},
    )
    def get(self, request):
        params = request.query_params
        status = params.get("status", "")
        if status and status not in Installation.Status.values:
            raise _bad_filter("status", f"status is one of {', '.join(Installation.Status.values)}.")
        environment = params.get("environment", "")
        if environment and environment not in Environment.values:
            raise _bad_filter("environment", "environment is live or test.")
        if isinstance(request.auth, KeyContext):
            environment = request.auth.environment  # a test key sees test installs only
        installations = selectors.installation_list_for_organization(
            organization_id=_organization_id(request), status=status
        )
        if environment:
            installations = installations.filter(environment=environment)
        return Response(paginated(request, installations, lambda rows: InstallationOutput(rows, many=True).data))


class InstallationDetailView(PortalAPIView):
    required_scopes = READ

    @extend_schema(
        operation_id="marketplace_installations_retrieve",
        tags=["marketplace"],
        responses={200: InstallationOutput, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 429: PROBLEM},
    )
    def get(self, request, public_id: str):
        installation = selectors.installation_get(organization_id=_organization_id(request), public_id=public_id)
        if isinstance(request.auth, KeyContext) and installation.environment != request.auth.environment:
            raise Http404("No such installation.")
        return Response(InstallationOutput(installation).data)
