"""Marketplace pages: the public catalogue (home, search, category, detail).

Public pages are open to everyone and show published integrations only; a partner's
members also preview their own unpublished listing. Changes go through
marketplace.services; reads through marketplace.selectors.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.models import Membership
from accounts.permissions import BY_CODE
from apikeys.views import _membership
from marketplace import selectors
from marketplace.forms import SearchForm
from marketplace.markdown import render_markdown
from marketplace.models import Integration

PAGE_SIZE = 12
HOME_NEWEST = 6


def _viewer(request) -> Membership | None:
    if not request.user.is_authenticated or not request.membership:
        return None
    return _membership(request)


def _staff_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied("Only staff review integrations.")
        return view(request, *args, **kwargs)

    return wrapper


def _query_without_page(request) -> str:
    return urlencode([(k, v) for k, v in request.GET.items() if k != "page" and v])


def _scopes_explained(integration: Integration) -> list[dict]:
    return [
        {"code": code, "description": BY_CODE[code].description if code in BY_CODE else "", "group": ""}
        for code in integration.scopes
    ]


def _listing(request, *, category=None, template: str, extra: dict):
    categories = list(selectors.category_list_with_counts())
    form = SearchForm(request.GET or None, categories=categories, with_category=category is None)
    data = form.cleaned_data if form.is_valid() else {}
    chosen = category
    if category is None and data.get("category"):
        chosen = next((c for c in categories if c.slug == data["category"]), None)
    integrations = selectors.integration_list_published(
        query=data.get("q") or "", category=chosen, pricing=data.get("pricing") or "", sort=data.get("sort") or ""
    )
    page = Paginator(integrations, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page": page,
        "categories": categories,
        "category": category,
        "query": _query_without_page(request),
        "q": data.get("q") or "",
        "filtered": any(data.get(k) for k in ("q", "category", "pricing", "sort")),
        **extra,
    }
    return render(request, template, context)


# ---- public pages ------------------------------------------------------------------------


@require_GET
def home(request):
    categories = list(selectors.category_list_with_counts())
    newest = list(selectors.integration_list_published(sort="newest")[:HOME_NEWEST])
    viewer = _viewer(request)
    context = {
        "form": SearchForm(categories=categories),
        "categories": categories,
        "newest": newest,
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


@require_GET
def detail(request, slug: str):
    integration = selectors.integration_get_public(slug=slug, viewer=_viewer(request))
    context = {
        "integration": integration,
        "description_html": render_markdown(integration.description),
        "scopes": _scopes_explained(integration),
        "versions": list(integration.versions.all()),
    }
    return render(request, "marketplace/detail.html", context)


