"""Reads of the marketplace: the public catalogue, search, a partner's own listings, the
review queue. Views never query integrations directly; these answer 404 for what the
caller may not see (another partner's draft looks exactly like a slug that doesn't exist)."""

from __future__ import annotations

import re

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404

from accounts.models import Membership, Organization
from marketplace.models import Category, Integration

SORTS: dict[str, list] = {
    "newest": [F("published_at").desc(nulls_last=True), F("id").desc()],
    "name": [F("name").asc(), F("id").asc()],
}
SORT_LABELS = {"relevance": "Relevance", "newest": "Newest", "name": "Name"}
MAX_QUERY_TERMS = 8
_TERM = re.compile(r"\w+", re.UNICODE)


def category_list_with_counts() -> QuerySet[Category]:
    """Every category with how many published integrations it has (one query)."""
    published = Q(integrations__status=Integration.Status.PUBLISHED)
    return Category.objects.annotate(published_count=Count("integrations", filter=published))


def category_get(*, slug: str) -> Category:
    category = Category.objects.filter(slug=slug).first()
    if category is None:
        raise Http404("No such category.")
    return category


def _published() -> QuerySet[Integration]:
    return Integration.objects.filter(status=Integration.Status.PUBLISHED).select_related("organization", "category")


def _search_terms(query: str) -> list[str]:
    return _TERM.findall(query.lower())[:MAX_QUERY_TERMS]


def _search(queryset: QuerySet[Integration], query: str) -> tuple[QuerySet[Integration], bool]:
    """Narrow to integrations matching every term; the bool says whether a rank was annotated.

    PostgreSQL: full-text search over name (weight A), tagline, category and partner (B)
    and description (C), each term a prefix (`pay:*` finds "payments"), ranked. The
    `simple` configuration does not stem, so prefix matching behaves the same for
    product names as for English words. SQLite: every term must appear in one of the
    fields, case-insensitively, and there is no rank.
    """
    terms = _search_terms(query)
    if not terms:
        return queryset, False
    if settings.SERVICES_PROFILE:
        from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

        vector = (
            SearchVector("name", weight="A", config="simple")
            + SearchVector("tagline", weight="B", config="simple")
            + SearchVector("category__name", weight="B", config="simple")
            + SearchVector("organization__name", weight="B", config="simple")
            + SearchVector("description", weight="C", config="simple")
        )
        # Terms are \w+ only, so nothing in them is tsquery syntax.
        search = SearchQuery(" & ".join(f"{term}:*" for term in terms), search_type="raw", config="simple")
        ranked = queryset.annotate(search=vector).filter(search=search).annotate(rank=SearchRank(vector, search))
        return ranked, True
    for term in terms:
        queryset = queryset.filter(
            Q(name__icontains=term)
            | Q(tagline__icontains=term)
            | Q(description__icontains=term)
            | Q(category__name__icontains=term)
            | Q(organization__name__icontains=term)
        )
    return queryset, False


def integration_list_published(
    *, query: str = "", category: Category | None = None, pricing: str = "", sort: str = ""
) -> QuerySet[Integration]:
    """Published integrations, filtered and sorted as the URL asks.

    Sorts: `relevance` (the default with a query on PostgreSQL), `newest` (the default
    otherwise) and `name`.
    """
    queryset = _published()
    if category is not None:
        queryset = queryset.filter(category=category)
    if pricing in Integration.Pricing.values:
        queryset = queryset.filter(pricing_model=pricing)
    queryset, ranked = _search(queryset, query or "")
    if sort == "relevance" or (not sort and query):
        if ranked:
            return queryset.order_by(F("rank").desc(), F("published_at").desc(nulls_last=True), F("id").desc())
        sort = "newest"
    return queryset.order_by(*SORTS.get(sort, SORTS["newest"]))


def integration_get_public(*, slug: str, viewer: Membership | None = None) -> Integration:
    """A published integration by slug; members of the partner that owns it also see their
    unpublished ones (a preview). Anything else is a 404."""
    integration = Integration.objects.select_related("organization", "category").filter(slug=slug).first()
    if integration is None:
        raise Http404("No such integration.")
    if integration.is_published:
        return integration
    own = viewer is not None and viewer.organization_id == integration.organization_id
    if own and viewer.has_perm("integrations:read"):
        return integration
    raise Http404("No such integration.")


def integration_get_for_actor(*, actor: Membership, public_id: str, write: bool = False) -> Integration:
    """The chokepoint for partner pages: the caller's organisation's integration, or 404."""
    integration = (
        Integration.objects.select_related("organization", "category", "oauth_application")
        .filter(organization_id=actor.organization_id, public_id=public_id)
        .first()
    )
    if integration is None or not actor.has_perm("integrations:manage" if write else "integrations:read"):
        raise Http404("No such integration.")
    return integration


def integration_list_for_organization(*, organization: Organization) -> QuerySet[Integration]:
    return Integration.objects.filter(organization=organization).select_related("category").order_by("-created_at")


def integration_review_queue() -> QuerySet[Integration]:
    """Submitted integrations, oldest submission first."""
    return (
        Integration.objects.filter(status=Integration.Status.SUBMITTED)
        .select_related("organization", "category")
        .order_by("submitted_at", "id")
    )


def integration_get_for_review(*, public_id: str) -> Integration:
    integration = (
        Integration.objects.select_related("organization", "category", "oauth_application")
        .filter(public_id=public_id)
        .first()
    )
    if integration is None:
        raise Http404("No such integration.")
    return integration
