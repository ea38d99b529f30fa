"""Reads of reviews and ratings: the public list, the star breakdown, who may review.

Hidden reviews are out of the public list and the breakdown, as they are out of the
integration's average. One chokepoint per role answers 404 for what the caller may
not touch: a reviewing organisation reaches only its own reviews, a partner only
reviews of its own integrations, staff any.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404

from accounts.models import Membership, Organization
from marketplace.models import Installation, Integration, Review

STARS = (5, 4, 3, 2, 1)
NOT_INSTALLED = "Install it and use it before reviewing: reviews come from organisations that have used it."
NOT_USED = (
    "Your organisation installed it but hasn't made any API calls through it yet; "
    "use it before reviewing, so reviews come from real experience."
)
OWN_INTEGRATION = "Your organisation publishes this integration, so it can't review it; reply to reviews instead."
NOT_PUBLISHED = "Only published integrations can be reviewed."


def review_list_visible(*, integration: Integration) -> QuerySet[Review]:
    """The integration's reviews that are not hidden, newest first, with what a row shows."""
    return (
        Review.objects.filter(integration=integration, hidden_at__isnull=True)
        .select_related("organization", "author", "reply_by")
        .order_by("-created_at", "-id")
    )


@dataclass(frozen=True)
class StarRow:
    stars: int
    count: int
    percent: int  # of the visible reviews, rounded
    step: int  # percent rounded to 5, for the bar's width class


def review_rating_breakdown(*, integration: Integration) -> list[StarRow]:
    """How many visible reviews gave each star, 5 down to 1 (one query)."""
    counts = dict(
        Review.objects.filter(integration=integration, hidden_at__isnull=True)
        .values_list("rating")
        .annotate(n=Count("id"))
        .values_list("rating", "n")
    )
    total = sum(counts.values())
    rows = []
    for stars in STARS:
        count = counts.get(stars, 0)
        percent = round(100 * count / total) if total else 0
        rows.append(StarRow(stars, count, percent, 5 * round(percent / 5)))
    return rows


def review_get_for_organization(*, integration: Integration, organization: Organization) -> Review | None:
    """The organisation's own review of the integration (hidden or not), if it wrote one."""
    return Review.objects.filter(integration=integration, organization=organization).first()


@dataclass(frozen=True)
class Eligibility:
    allowed: bool
    reason: str = ""


def review_eligibility(*, integration: Integration, organization: Organization) -> Eligibility:
    """May this organisation review the integration? Installed (any mode, even since
    uninstalled) and at least one API call made through an install (one query)."""
    if not integration.is_published:
        return Eligibility(False, NOT_PUBLISHED)
    if integration.organization_id == organization.pk:
        return Eligibility(False, OWN_INTEGRATION)
    usage = Installation.objects.filter(integration=integration, organization=organization).aggregate(
        installs=Count("id"), used=Count("id", filter=Q(call_count__gt=0))
    )
    if not usage["installs"]:
        return Eligibility(False, NOT_INSTALLED)
    if not usage["used"]:
        return Eligibility(False, NOT_USED)
    return Eligibility(True)


def _review_rows() -> QuerySet[Review]:
    return Review.objects.select_related("integration", "integration__organization", "organization", "author")


def review_get_for_author(*, actor: Membership, public_id: str) -> Review:
    """The chokepoint for the reviewing organisation: its own review, or 404."""
    review = _review_rows().filter(public_id=public_id, organization_id=actor.organization_id).first()
    if review is None or not actor.has_perm("reviews:write"):
        raise Http404("No such review.")
    return review


def review_get_for_partner(*, actor: Membership, public_id: str) -> Review:
    """The chokepoint for the partner: a visible review of one of its integrations, or 404."""
    review = (
        _review_rows()
        .filter(public_id=public_id, integration__organization_id=actor.organization_id, hidden_at__isnull=True)
        .first()
    )
    if review is None or not actor.has_perm("reviews:write"):
        raise Http404("No such review.")
    return review


def review_get_for_staff(*, public_id: str) -> Review:
    review = _review_rows().filter(public_id=public_id).first()
    if review is None:
        raise Http404("No such review.")
    return review


@dataclass(frozen=True)
class ReviewSection:
    page: Page
    own_review: Review | None
    eligibility: Eligibility | None
    can_write: bool  # a member of another organisation who may write reviews
    can_reply: bool  # a member of the partner that publishes the integration


def review_section(
    *, integration: Integration, viewer: Membership | None, page_number: str | int | None = 1, per_page: int = 10
) -> ReviewSection:
    """Everything the detail page's reviews section shows, in a number of queries that does
    not depend on how many reviews there are."""
    page = Paginator(review_list_visible(integration=integration), per_page).get_page(page_number)
    own = None
    eligibility = None
    can_write = can_reply = False
    if viewer is not None and viewer.has_perm("reviews:write"):
        if viewer.organization_id == integration.organization_id:
            can_reply = True
        else:
            can_write = True
            own = review_get_for_organization(integration=integration, organization=viewer.organization)
            if own is None:
                eligibility = review_eligibility(integration=integration, organization=viewer.organization)
    return ReviewSection(page, own, eligibility, can_write, can_reply)
