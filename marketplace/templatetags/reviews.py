"""What the detail page's review partials need, loaded by the partials themselves: the
detail view (owned by the catalogue pages) passes only `integration`."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django import template

from marketplace import selectors
from marketplace.models import Integration

register = template.Library()

REVIEWS_PER_PAGE = 10


@register.filter
def stars(value) -> str:
    """★★★★☆ for a rating or an average (rounded to the nearest whole star)."""
    try:
        whole = int(Decimal(str(value or 0)).quantize(Decimal(1), ROUND_HALF_UP))
    except ArithmeticError:
        whole = 0
    whole = max(0, min(5, whole))
    return "★" * whole + "☆" * (5 - whole)


@register.simple_tag
def review_breakdown(integration: Integration) -> list[selectors.StarRow]:
    return selectors.review_rating_breakdown(integration=integration)


@register.simple_tag(takes_context=True)
def review_section(context, integration: Integration) -> selectors.ReviewSection:
    request = context.get("request")
    viewer = None
    if request is not None and request.user.is_authenticated and getattr(request, "membership", None):
        viewer = request.membership  # the middleware's lazy proxy is enough for reads
    page_number = request.GET.get("reviews_page") if request is not None else 1
    return selectors.review_section(
        integration=integration, viewer=viewer, page_number=page_number, per_page=REVIEWS_PER_PAGE
    )
