"""The marketplace's public read API under /api/v1/marketplace: published integrations only.

Open to anonymous callers (rate-limited per IP); API keys and signed-in members may call
it too and are limited as usual. Nothing here needs a scope. The same selectors as the
pages answer, so a search through the API finds what the search page finds.
"""

from __future__ import annotations

from django.db.models import prefetch_related_objects
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from marketplace import selectors
from marketplace.api.serializers import (
    CategoryWithCountOutput,
    IntegrationDetailOutput,
    IntegrationFilterInput,
    IntegrationOutput,
    PartnerProfileOutput,
)
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
                "q",
                str,
                description="Words matched against name, tagline, description, category and partner; "
                "each word also matches as a prefix (`ledg` finds “Ledger Sync”).",
            ),
            OpenApiParameter("category", str, description="A category slug."),
            OpenApiParameter("partner", str, description="A partner's id (its integrations only)."),
            OpenApiParameter("pricing", str, enum=list(Integration.Pricing.values)),
            OpenApiParameter("min_rating", float, description="Only integrations rated at least this (0–5)."),
            OpenApiParameter(
                "sort",
                str,
                enum=list(selectors.SORT_LABELS),
                description="Default: relevance with q, else newest. popularity: most active installs; "
                "rating: highest average, then most ratings.",
            ),
            OpenApiParameter("page", int),
            OpenApiParameter("per_page", int, description="At most 100."),
        ],
        responses={200: IntegrationOutput(many=True), 400: PROBLEM, 429: PROBLEM},
        auth=[],
    )
    def get(self, request):
        filters = IntegrationFilterInput(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        category = None
        if data.get("category"):
            category = Category.objects.filter(slug=data["category"]).first()
            if category is None:
                raise _bad_filter("category", f"No category {data['category']!r}.")
        partner = None
        if data.get("partner"):
            try:
                partner = selectors.partner_get_public(public_id=data["partner"])
            except Http404:
                raise _bad_filter("partner", f"No partner {data['partner']!r}.") from None
        integrations = selectors.integration_list_published(
            query=data.get("q", ""),
            category=category,
            pricing=data.get("pricing", ""),
            min_rating=data.get("min_rating"),
            organization=partner,
            sort=data.get("sort", ""),
        )
        context = {"request": request}
        return Response(
            paginated(
                request,
                integrations,
                lambda rows: IntegrationOutput(rows, many=True, context=context).data,
                count_cap=selectors.SEARCH_COUNT_CAP,
            )
        )


class IntegrationDetailView(MarketplaceAPIView):
    @extend_schema(
        operation_id="marketplace_integrations_retrieve",
        responses={200: IntegrationDetailOutput, 404: PROBLEM, 429: PROBLEM},
        auth=[],
    )
    def get(self, request, slug: str):
        integration = selectors.integration_get_public(slug=slug)
        prefetch_related_objects([integration], "images", "versions")
        return Response(IntegrationDetailOutput(integration, context={"request": request}).data)


class CategoryListView(MarketplaceAPIView):
    @extend_schema(
        operation_id="marketplace_categories_list",
        parameters=[OpenApiParameter("page", int), OpenApiParameter("per_page", int, description="At most 100.")],
        responses={200: CategoryWithCountOutput(many=True), 400: PROBLEM, 429: PROBLEM},
        auth=[],
    )
    def get(self, request):
        categories = selectors.category_list_with_counts().order_by("sort_order", "name")
        return Response(paginated(request, categories, lambda rows: CategoryWithCountOutput(rows, many=True).data))


class PartnerDetailView(MarketplaceAPIView):
    @extend_schema(
        operation_id="marketplace_partners_retrieve",
        description="A verified partner's public profile; list its integrations with "
        "`GET /api/v1/marketplace/integrations?partner={id}`.",
        responses={200: PartnerProfileOutput, 404: PROBLEM, 429: PROBLEM},
        auth=[],
    )
    def get(self, request, public_id: str):
        organization = selectors.partner_get_public(public_id=public_id)
        organization.summary = selectors.partner_rating_summary(organization=organization)
        return Response(PartnerProfileOutput(organization).data)
