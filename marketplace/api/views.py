"""The marketplace's public read API under /api/v1/marketplace: published integrations only.

Open to anonymous callers (rate-limited per IP); API keys and signed-in members may call
it too and are limited as usual. Nothing here needs a scope.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from marketplace import selectors
from marketplace.api.serializers import IntegrationDetailOutput, IntegrationOutput
from marketplace.models import Category, Integration
from portal.api import PROBLEM, PortalAPIView, paginated
from portal.problems import ProblemException

ANONYMOUS_PER_MINUTE = 60


class MarketplaceAPIView(PortalAPIView):
    permission_classes: list = []
    anonymous_requests_per_minute = ANONYMOUS_PER_MINUTE


def _bad_filter(name: str, message: str) -> ProblemException:
    return ProblemException(
        status_code=400,
        detail=message,
        slug="validation-error",
        title="Your request has invalid fields",
        errors={name: [message]},
    )


class IntegrationListView(MarketplaceAPIView):
    @extend_schema(
        operation_id="marketplace_integrations_list",
        parameters=[
            OpenApiParameter(
                "q", str, description="Words matched against name, tagline, description, category and partner."
            ),
            OpenApiParameter("category", str, description="A category slug."),
            OpenApiParameter("pricing", str, enum=list(Integration.Pricing.values)),
            OpenApiParameter(
                "sort", str, enum=["relevance", "newest", "name"], description="Default: relevance with q, else newest."
            ),
            OpenApiParameter("page", int),
            OpenApiParameter("per_page", int, description="At most 100."),
        ],
        responses={200: IntegrationOutput(many=True), 400: PROBLEM, 429: PROBLEM},
        auth=[],
    )
    def get(self, request):
        params = request.query_params
        category = None
        if params.get("category"):
            category = Category.objects.filter(slug=params["category"]).first()
            if category is None:
                raise _bad_filter("category", f"No category {params['category']!r}.")
        pricing = params.get("pricing", "")
        if pricing and pricing not in Integration.Pricing.values:
            raise _bad_filter("pricing", f"pricing is one of {', '.join(Integration.Pricing.values)}.")
        sort = params.get("sort", "")
        if sort and sort not in selectors.SORT_LABELS:
            raise _bad_filter("sort", f"sort is one of {', '.join(selectors.SORT_LABELS)}.")
        integrations = selectors.integration_list_published(
            query=params.get("q", "")[:200], category=category, pricing=pricing, sort=sort
        )
        return Response(paginated(request, integrations, lambda rows: IntegrationOutput(rows, many=True).data))


class IntegrationDetailView(MarketplaceAPIView):
    @extend_schema(
        operation_id="marketplace_integrations_retrieve",
        responses={200: IntegrationDetailOutput, 404: PROBLEM, 429: PROBLEM},
        auth=[],
    )
    def get(self, request, slug: str):
        integration = selectors.integration_get_public(slug=slug)
        return Response(IntegrationDetailOutput(integration).data)
