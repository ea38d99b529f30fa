"""Reads of the marketplace: the public catalogue, search, a partner's own listings, the
review queue. Views never query integrations directly; these answer 404 for what the
caller may not see (another partner's draft looks exactly like a slug that doesn't exist)."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, F, Prefetch, Q, QuerySet, Sum, prefetch_related_objects
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import Membership, Organization, PartnerProfile
from marketplace.models import Category, Installation, Integration, IntegrationImage

SORTS: dict[str, list] = {
    "popularity": [F("install_count").desc(), F("rating_count").desc(), F("id").desc()],
    "rating": [F("rating_average").desc(), F("rating_count").desc(), F("id").desc()],
    # Published rows always have published_at (a constraint); no NULLS LAST, so the
    # (status, -published_at) index serves the order instead of a sort of every row.
    "newest": [F("published_at").desc(), F("id").desc()],
    "name": [F("name").asc(), F("id").asc()],
}
SORT_LABELS = {
    "relevance": "Relevance",
    "popularity": "Most installed",
    "rating": "Top rated",
    "newest": "Newest",
    "name": "Name",
}
MAX_QUERY_TERMS = 8
# A search counts its matches up to here and then says "1,000+": a broad word ("pay") can
# match most of the catalogue, and counting every match costs as much as ranking them.
SEARCH_COUNT_CAP = 1_000
LIST_DEFERRED = ("search_vector", "description", "release_notes", "reviewer_notes")
MIN_RATINGS = ("4.5", "4", "3", "2", "1")
TRENDING_DAYS = 7
# Letters and digits only: nothing that reaches to_tsquery is tsquery syntax (& | ! : ( ) *).
_TERM = re.compile(r"[^\W_]+", re.UNICODE)


def category_list() -> list[Category]:
    return list(Category.objects.all())


def category_list_with_counts() -> QuerySet[Category]:
    """Every category with how many published integrations it has (one query)."""
    published = Q(integrations__status=Integration.Status.PUBLISHED)
    return Category.objects.annotate(published_count=Count("integrations", filter=published))


def category_get(*, slug: str) -> Category:
    category = Category.objects.filter(slug=slug).first()
    if category is None:
        raise Http404("No such category.")
    return category


def _logos() -> Prefetch:
    logos = IntegrationImage.objects.filter(kind=IntegrationImage.Kind.LOGO)
    return Prefetch("images", queryset=logos, to_attr="logo_images")


def _published() -> QuerySet[Integration]:
    return Integration.objects.filter(status=Integration.Status.PUBLISHED).select_related("organization", "category")


def integration_logos_attach(integrations: list[Integration]) -> list[Integration]:
    """Give each integration `logo_images` (a list of at most one) in one query for all of them,
    e.g. for every section of the home page at once."""
    prefetch_related_objects(integrations, _logos())
    return integrations


def image_url(image: IntegrationImage) -> str:
    """Where a logo or screenshot is served: the media view when there is one, else storage."""
    try:
        return reverse("marketplace:image", args=[image.public_id])
    except NoReverseMatch:
        return image.file.url


def search_terms(query: str) -> list[str]:
    return _TERM.findall((query or "").lower())[:MAX_QUERY_TERMS]


def tsquery_for(terms: list[str]):
    """PostgreSQL: every term as a prefix, unstemmed (`simple`) or stemmed (`english`), ANDed.

    The document holds both forms (marketplace.services.search). Terms are letters and
    digits only (`search_terms`), so the raw tsquery text carries no operator of the caller's.
    """
    from django.contrib.postgres.search import SearchQuery

    tsquery = None
    for term in terms:
        either = SearchQuery(f"{term}:*", search_type="raw", config="simple") | SearchQuery(
            f"{term}:*", search_type="raw", config="english"
        )
        tsquery = either if tsquery is None else tsquery & either
    return tsquery


def _search(queryset: QuerySet[Integration], query: str) -> tuple[QuerySet[Integration], bool]:
    """Narrow to integrations matching every term; the bool says whether a rank was annotated.

    PostgreSQL: the stored document (marketplace.services.search) `@@` a query in which every
    term is a prefix (`ledg:*` finds "Ledger"), both unstemmed and stemmed, ANDed across
    terms; the GIN index answers it and `ts_rank` (name A > tagline, category, partner B >
    description C) orders by relevance. SQLite: every term must appear
    in one of the fields, case-insensitively, and there is no rank.
    """
    terms = search_terms(query)
    if not terms:
        return queryset, False
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchRank

        tsquery = tsquery_for(terms)
        # `ts_rank`, not `ts_rank_cd`: cheaper on broad queries, and the weights (name A >
        # tagline, category, partner B > description C) already give the order we want.
        ranked = queryset.filter(search_vector=tsquery).annotate(rank=SearchRank(F("search_vector"), tsquery))
        return ranked, True
    return search_icontains(queryset, terms), False


def search_icontains(queryset: QuerySet[Integration], terms: list[str]) -> QuerySet[Integration]:
    """The fallback without full-text search (SQLite): every term in some field, case-insensitively."""
    for term in terms:
        queryset = queryset.filter(
            Q(name__icontains=term)
            | Q(tagline__icontains=term)
            | Q(description__icontains=term)
            | Q(category__name__icontains=term)
            | Q(organization__name__icontains=term)
        )
    return queryset


def integration_list_published(
    *,
    query: str = "",
    category: Category | None = None,
    pricing: str = "",
    min_rating: Decimal | None = None,
    organization: Organization | None = None,
    sort: str = "",
) -> QuerySet[Integration] | RankedResults:
    """Published integrations, filtered and sorted as the URL asks (a ranked search on
    PostgreSQL comes as `RankedResults`, which pages the same way).

    Sorts: `relevance` (the default with a query; on SQLite, where nothing is ranked, it is
    `popularity`), `popularity` (active installs), `rating` (average, then number of
    ratings), `newest` (the default without a query) and `name`. Each row comes with its
    organisation, category and `logo_images` (a list of at most one), in a constant number
    of queries whatever the page size.
    """
    # Lists show cards: the long texts (and the stored document, which is only for matching
    # and ranking in the database) stay in the database.
    queryset = _published().defer(*LIST_DEFERRED).prefetch_related(_logos())
    if category is not None:
        queryset = queryset.filter(category=category)
    if organization is not None:
        queryset = queryset.filter(organization=organization)
    if pricing in Integration.Pricing.values:
        queryset = queryset.filter(pricing_model=pricing)
    if min_rating:
        queryset = queryset.filter(rating_average__gte=min_rating)
    unsearched = queryset
    queryset, ranked = _search(queryset, query or "")
    if sort == "relevance" or (not sort and search_terms(query)):
        if ranked:
            ordered = queryset.order_by(F("rank").desc(), F("install_count").desc(), F("id").desc())
            # The rows are fetched by the ids the ranking chose: no need to match them again.
            return RankedResults(ranked=ordered.select_related(None).prefetch_related(None), rows=unsearched)
        sort = "popularity"
    return queryset.order_by(*SORTS.get(sort, SORTS["newest"]))


class RankedResults:
    """A ranked search (PostgreSQL), read in two steps: the ranking sorts a narrow id-only query,
    so the top-N sort over every match never carries wide joined rows; then the page's rows are
    fetched by key with their organisation, category and logo, in rank order.

    The ranking already visits every match, so a capped count (`count_capped`, what the
    paginators ask first) takes the first `cap + 1` ids in rank order in that same query and
    keeps them: their number is the count, and any page inside them is a slice of the list,
    with no second scan. Pages past the cap query with an offset.

    It answers what the paginators use: `count_capped()`, `count()`, slicing and iteration.
    """

    ordered = True

    def __init__(self, *, ranked: QuerySet[Integration], rows: QuerySet[Integration]):
        self.ranked, self.rows = ranked, rows
        self._head: list[int] | None = None  # the first ids in rank order, once counted
        self._head_is_all = False

    def count_capped(self, cap: int) -> tuple[int, bool]:
        self._head = list(self.ranked.values_list("pk", flat=True)[: cap + 1])
        self._head_is_all = len(self._head) <= cap
        return min(len(self._head), cap), not self._head_is_all

    def count(self) -> int:
        return self.ranked.count()

    def __len__(self) -> int:
        return self.count()

    def _ids(self, index: slice) -> list[int]:
        head = self._head
        if head is not None and (self._head_is_all or (index.stop is not None and index.stop <= len(head))):
            return head[index]
        return list(self.ranked.values_list("pk", flat=True)[index])

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return self[index : index + 1][0]
        ids = self._ids(index)
        by_id = self.rows.in_bulk(ids)
        return [by_id[pk] for pk in ids if pk in by_id]

    def __iter__(self):
        return iter(self[:])


def integration_list_newest(*, limit: int) -> list[Integration]:
    return list(_published().order_by(*SORTS["newest"])[:limit])


def integration_list_featured(*, limit: int) -> list[Integration]:
    """Staff-curated, in ascending `featured_rank`."""
    return list(_published().filter(featured_rank__isnull=False).order_by("featured_rank", "id")[:limit])


def integration_list_trending(*, limit: int, days: int = TRENDING_DAYS) -> list[Integration]:
    """The most installed in the last `days` days (every new install counts), most first.

    One aggregate over recent installations (the `install_trending` (installed_at,
    integration) index), then the rows by primary key: two queries whatever `limit` is.
    Grouping the integrations themselves instead took 80 ms at 10,000 of them.
    """
    since = timezone.now() - timedelta(days=days)
    top = list(
        Installation.objects.filter(installed_at__gte=since, integration__status=Integration.Status.PUBLISHED)
        .values_list("integration_id", flat=True)
        .annotate(recent=Count("id"))
        .order_by("-recent", "-integration__install_count", "-integration_id")[:limit]
    )
    by_id = _published().in_bulk(top)
    return [by_id[pk] for pk in top if pk in by_id]


def integration_list_top_rated(*, limit: int) -> list[Integration]:
    return list(_published().filter(rating_count__gt=0).order_by(*SORTS["rating"])[:limit])


def partner_get_public(*, public_id: str) -> Organization:
    """A verified partner organisation for its public profile; any other organisation is a 404."""
    organization = (
        Organization.objects.select_related("partner_profile")
        .filter(
            public_id=public_id,
            kind=Organization.Kind.PARTNER,
            partner_profile__verification_status=PartnerProfile.Verification.VERIFIED,
        )
        .first()
    )
    if organization is None:
        raise Http404("No such partner.")
    return organization


def partner_rating_summary(*, organization: Organization) -> dict:
    """Across the partner's published integrations: how many, and their average rating
    weighted by number of ratings (None without any rating). One query."""
    totals = Integration.objects.filter(organization=organization, status=Integration.Status.PUBLISHED).aggregate(
        integrations=Count("id"), ratings=Sum("rating_count"), stars=Sum("rating_sum")
    )
    ratings = totals["ratings"] or 0
    average = (Decimal(totals["stars"] or 0) / ratings).quantize(Decimal("0.01")) if ratings else None
    return {"integrations": totals["integrations"], "rating_count": ratings, "rating_average": average}


def integration_get_public(*, slug: str, viewer: Membership | None = None) -> Integration:
    """A published integration by slug; members of the partner that owns it also see their
    unpublished ones (a preview). Anything else is a 404."""
    integration = (
        Integration.objects.select_related("organization", "category", "organization__partner_profile")
        .filter(slug=slug)
        .first()
    )
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
