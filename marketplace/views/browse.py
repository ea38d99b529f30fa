"""Marketplace pages: the public catalogue (home, search, category, detail, partner profile).

Public pages are open to everyone and show published integrations only; a partner's
members also preview their own unpublished listing. Changes go through
marketplace.services; reads through marketplace.selectors. Every list page makes the same
number of queries whatever the number of results shown (tests/marketplace/test_browse.py).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.db.models import Count
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.models import Membership
from accounts.permissions import BY_CODE
from apikeys.views import _membership
from marketplace import selectors
from marketplace.forms import SearchForm
from marketplace.markdown import render_markdown
from marketplace.models import Integration, IntegrationImage
from portal.pagination import page_of

PAGE_SIZE = 12
HOME_SECTION = 6
HOME_FEATURED = 3


def _viewer(request) -> Membership | None:
    if not request.user.is_authenticated or not request.membership:
        return None
    return _membership(request)


def _with_logos(integrations):
    """Give each row `logo_url` from its prefetched `logo_images` (no query)."""
    for integration in integrations:
        logos = getattr(integration, "logo_images", None) or []
        integration.logo_url = selectors.image_url(logos[0]) if logos else ""
    return integrations


def _query_without_page(request) -> str:
    return urlencode([(k, v) for k, v in request.GET.items() if k != "page" and v])


def _scopes_explained(integration: Integration) -> list[dict]:
    return [
        {"code": code, "description": BY_CODE[code].description if code in BY_CODE else "", "group": ""}
        for code in integration.scopes
    ]


def _listing(request, *, category=None, template: str, extra: dict):
    categories = selectors.category_list()
    form = SearchForm(request.GET or None, categories=categories, with_category=category is None)
    form.is_valid()
    filters = form.filters()
    chosen = category
    if category is None and filters["category"]:
        chosen = next((c for c in categories if c.slug == filters["category"]), None)
    integrations = selectors.integration_list_published(
        query=filters["query"],
        category=chosen,
        pricing=filters["pricing"],
        min_rating=filters["min_rating"],
        sort=filters["sort"],
    )
    page = page_of(integrations, request.GET.get("page"), PAGE_SIZE, cap=selectors.SEARCH_COUNT_CAP)
    _with_logos(page.object_list)
    context = {
        "form": form,
        "page": page,
        "categories": categories,
        "category": category,
        "query": _query_without_page(request),
        "q": filters["query"],
        "filtered": bool(request.GET.keys() - {"page"}),
        **extra,
    }
    return render(request, template, context)


# ---- public pages ------------------------------------------------------------------------


@require_GET
def home(request):
    """Featured (staff-curated), trending (new installs in 7 days), newest, top rated and
    categories: one query per section."""
    categories = list(selectors.category_list_with_counts())
    viewer = _viewer(request)
    sections = {
        "featured": selectors.integration_list_featured(limit=HOME_FEATURED),
        "trending": selectors.integration_list_trending(limit=HOME_SECTION),
        "newest": selectors.integration_list_newest(limit=HOME_SECTION),
        "top_rated": selectors.integration_list_top_rated(limit=HOME_SECTION),
    }
    _with_logos(selectors.integration_logos_attach([i for rows in sections.values() for i in rows]))
    context = {
        "form": SearchForm(categories=categories),
        "categories": categories,
        **sections,
        "trending_days": selectors.TRENDING_DAYS,
        "is_partner": bool(viewer and viewer.organization.is_partner and viewer.has_perm("integrations:read")),
    }
    return render(request, "marketplace/home.html", context)


@require_GET
def search(request):
    return _listing(request, template="marketplace/search.html", extra={})


@require_GET
def category(request, slug: str):
    chosen = selectors.category_get(slug=slug)
    return _listing(request, category=chosen, template="marketplace/category.html", extra={})


def _partner_is_public(integration: Integration) -> bool:
    profile = getattr(integration.organization, "partner_profile", None)
    return bool(integration.organization.is_partner and profile is not None and profile.is_verified)


@require_GET
def detail(request, slug: str):
    integration = selectors.integration_get_public(slug=slug, viewer=_viewer(request))
    images = list(integration.images.all())
    stars = dict(
        integration.reviews.filter(hidden_at__isnull=True)
        .values_list("rating")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("rating", "n")
    )
    total = sum(stars.values())
    context = {
        "integration": integration,
        "description_html": render_markdown(integration.description),
        "scopes": _scopes_explained(integration),
        "versions": list(integration.versions.all()),
        "partner_public": _partner_is_public(integration),
        # For the partials of the page (gallery, rating summary): one query each, here.
        "logo_url": next((selectors.image_url(i) for i in images if i.kind == IntegrationImage.Kind.LOGO), ""),
        "screenshots": [
            {"url": selectors.image_url(i), "image": i} for i in images if i.kind == IntegrationImage.Kind.SCREENSHOT
        ],
        "rating_breakdown": [
            {"stars": n, "count": stars.get(n, 0), "percent": round(100 * stars.get(n, 0) / total) if total else 0}
            for n in range(5, 0, -1)
        ],
    }
    return render(request, "marketplace/detail.html", context)


@require_GET
def partner_profile(request, public_id: str):
    """A verified partner's public page: who they are and their published integrations."""
    organization = selectors.partner_get_public(public_id=public_id)
    integrations = selectors.integration_list_published(organization=organization, sort="popularity")
    page = page_of(integrations, request.GET.get("page"), PAGE_SIZE, cap=selectors.SEARCH_COUNT_CAP)
    _with_logos(page.object_list)
    context = {
        "partner": organization,
        "profile": organization.partner_profile,
        "summary": selectors.partner_rating_summary(organization=organization),
        "page": page,
        "query": "",
        "filtered": False,
    }
    return render(request, "marketplace/partner_profile.html", context)
