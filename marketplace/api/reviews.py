"""Reviews in the marketplace API.

`GET /api/v1/marketplace/integrations/{slug}/reviews` is public, like the catalogue: the
visible reviews of a published integration, newest first, in the list envelope. Writing
needs `reviews:write`: `POST` on the same path reviews it for the caller's organisation
and `PATCH /api/v1/marketplace/reviews/{id}` edits the organisation's own review (any
other review is a 404). An API key writes in the name of the member who created it.
Text is returned as the reviewer typed it: plain text, for the client to escape.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.functional import empty
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from accounts.models import Membership
from accounts.services import RequestMeta
from apikeys.authentication import KeyContext
from apikeys.permissions import HasScopes
from marketplace import selectors, services
from marketplace.api.views import MarketplaceAPIView
from marketplace.models import Review
from marketplace.services.reviews import MAX_BODY, MAX_TITLE
from portal.api import PROBLEM, paginated
from portal.problems import ProblemException, register_problem_type

register_problem_type(
    "review-not-eligible",
    "Not eligible to review",
    "Only organisations that installed the integration and made API calls through it review it; "
    "a partner doesn't review its own integrations.",
)
register_problem_type(
    "review-exists",
    "Already reviewed",
    "An organisation reviews an integration once; edit its review with PATCH /marketplace/reviews/{id}.",
)

WRITE = ("reviews:write",)


class ReplyOutput(serializers.Serializer):
    body = serializers.CharField(source="reply_body")
    replied_at = serializers.DateTimeField(source="reply_at")


class ReviewOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    integration = serializers.SlugField(source="integration.slug")
    rating = serializers.IntegerField(min_value=1, max_value=5)
    title = serializers.CharField(help_text="Plain text; escape it when showing it.")
    body = serializers.CharField(help_text="Plain text; escape it when showing it.")
    reviewer = serializers.CharField(source="organization.name", help_text="The reviewing organisation.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    reply = serializers.SerializerMethodField(help_text="The partner's public reply, or null.")

    def get_reply(self, review: Review) -> dict | None:
        return ReplyOutput(review).data if review.reply_body else None


class ReviewCreateInput(serializers.Serializer):
    rating = serializers.IntegerField(min_value=1, max_value=5)
    title = serializers.CharField(max_length=MAX_TITLE, required=False, allow_blank=True, default="")
    body = serializers.CharField(max_length=MAX_BODY)


class ReviewUpdateInput(serializers.Serializer):
    rating = serializers.IntegerField(min_value=1, max_value=5, required=False)
    title = serializers.CharField(max_length=MAX_TITLE, required=False, allow_blank=True)
    body = serializers.CharField(max_length=MAX_BODY, required=False)


def _actor(request) -> Membership:
    """The member the caller writes as: the signed-in member, or the key's creator."""
    if isinstance(request.auth, KeyContext):
        context = request.auth
        membership = (
            Membership.objects.select_related("organization", "user", "custom_role")
            .filter(organization_id=context.organization_id, user_id=context.created_by_id)
            .first()
        )
        if membership is None or context.created_by_id is None:
            raise ProblemException(
                status_code=403,
                detail="The member who created this API key has left the organisation; reviews need an author.",
                slug="forbidden",
                title="Forbidden",
            )
        return membership
    membership = request._request.membership  # the middleware's lazy proxy; services get the row
    if isinstance(membership, Membership):
        return membership
    if membership._wrapped is empty:
        membership._setup()
    return membership._wrapped


def _service_problem(error: ValidationError) -> Exception:
    code = getattr(error, "code", None)
    if code == "not_eligible":
        return ProblemException(
            status_code=403, detail=error.messages[0], slug="review-not-eligible", title="Not eligible to review"
        )
    if code == "already_reviewed":
        return ProblemException(
            status_code=409, detail=error.messages[0], slug="review-exists", title="Already reviewed"
        )
    messages = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
    return serializers.ValidationError(messages)


class IntegrationReviewListView(MarketplaceAPIView):
    required_scopes = {"POST": WRITE}

    def get_permissions(self):
        return [HasScopes()] if self.request.method == "POST" else []

    @extend_schema(
        operation_id="marketplace_reviews_list",
        parameters=[OpenApiParameter("page", int), OpenApiParameter("per_page", int, description="At most 100.")],
        responses={200: ReviewOutput(many=True), 404: PROBLEM, 429: PROBLEM},
        auth=[],
    )
    def get(self, request, slug: str):
        integration = selectors.integration_get_public(slug=slug)
        reviews = selectors.review_list_visible(integration=integration).select_related("integration")
        return Response(paginated(request, reviews, lambda rows: ReviewOutput(rows, many=True).data))

    @extend_schema(
        operation_id="marketplace_reviews_create",
        request=ReviewCreateInput,
        responses={201: ReviewOutput, 400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM},
    )
    def post(self, request, slug: str):
        def produce() -> Response:
            actor = _actor(request)
            integration = selectors.integration_get_public(slug=slug, viewer=actor)
            data = ReviewCreateInput(data=request.data)
            data.is_valid(raise_exception=True)
            try:
                review = services.review_create(
                    actor=actor, integration=integration, meta=RequestMeta.from_request(request), **data.validated_data
                )
            except ValidationError as error:
                raise _service_problem(error) from None
            return Response(ReviewOutput(review).data, status=status.HTTP_201_CREATED)

        return self.idempotent(request, produce)


class ReviewDetailView(MarketplaceAPIView):
    permission_classes = [HasScopes]
    required_scopes = WRITE

    @extend_schema(
        operation_id="marketplace_reviews_update",
        request=ReviewUpdateInput,
        responses={200: ReviewOutput, 400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM},
    )
    def patch(self, request, public_id: str):
        actor = _actor(request)
        review = selectors.review_get_for_author(actor=actor, public_id=public_id)
        data = ReviewUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            review = services.review_update(
                review=review, actor=actor, meta=RequestMeta.from_request(request), **data.validated_data
            )
        except ValidationError as error:
            raise _service_problem(error) from None
        return Response(ReviewOutput(review).data)
