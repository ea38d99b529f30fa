"""Browsing the marketplace: the home page's sections, filters and sorts in the URL, pages of
results, the detail and the partner's public profile, the same reads through the API, and
query counts that do not grow with the number of results shown."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from marketplace import services
from marketplace.models import Category, Installation, Integration, IntegrationImage, IntegrationVersion, Review
from tests.factories import make_org
from tests.marketplace.conftest import create, publish


def bulk_published(org, count: int, *, prefix: str = "Bulk", category: str = "accounting", **fields):
    """`count` published integrations in one INSERT (no OAuth application: browsing never needs it)."""
    now = timezone.now()
    rows = Integration.objects.bulk_create(
        [
            Integration(
                organization=org,
                name=f"{prefix} {n}",
                slug=f"{prefix.lower().replace(' ', '-')}-{n}",
                tagline=f"{prefix} tool number {n}",
                description="Does useful things with **payments**.",
                category=Category.objects.get(slug=category),
                scopes=["payments:read"],
                status=Integration.Status.PUBLISHED,
                published_at=now - timedelta(minutes=n),
                **fields,
            )
            for n in range(count)
        ]
    )
    if rows[0].pk is None:  # a backend that doesn't return primary keys from bulk inserts
        rows = list(Integration.objects.filter(slug__startswith=f"{prefix.lower().replace(' ', '-')}-"))
    services.integration_search_refresh(integration_ids=[row.pk for row in rows])
    return rows


def rate(integration: Integration, *ratings: int) -> None:
    """Reviews from fresh organisations, with the aggregates the review service would keep."""
    for stars in ratings:
        Review.objects.create(integration=integration, organization=make_org(), rating=stars, body="ok")
    Integration.objects.filter(pk=integration.pk).update(
        rating_count=len(ratings),
        rating_sum=sum(ratings),
        rating_average=Decimal(sum(ratings)) / len(ratings) if ratings else 0,
    )


def slugs(html: str) -> list[str]:
    return re.findall(r'data-integration="([^"]+)"', html)


def section(html: str, name: str) -> str:
    match = re.search(rf'data-section="{name}">(.*?)</section>', html, re.S)
    return match.group(1) if match else ""


@pytest.fixture
def published(partners):
    """Ledger Sync (free, accounting), Shield (monthly, security, 4.5 stars, 30 installs),
    Payroll Pro (per call, accounting, 3 stars, 5 installs), plus a draft."""
    membership = partners.membership(partners.owner)
    ledger = publish(create(membership), partners.staff, membership)
    shield = publish(
        create(
            membership,
            name="Shield",
            tagline="Fraud alerts for card payments",
            category=Category.objects.get(slug="security"),
            pricing_model="monthly",
            price_minor=2900,
        ),
        partners.staff,
        membership,
    )
    payroll = publish(
        create(membership, name="Payroll Pro", tagline="Run payroll", pricing_model="per_call", price_minor=5),
        partners.staff,
        membership,
    )
    draft = create(membership, name="Ledger Draft", tagline="Not ready")
    rate(shield, 5, 4)
    rate(payroll, 3)
    Integration.objects.filter(pk=shield.pk).update(install_count=30)
    Integration.objects.filter(pk=payroll.pk).update(install_count=5)
    for row in (ledger, shield, payroll):
        row.refresh_from_db()
    return ledger, shield, payroll, draft


# ---- home ---------------------------------------------------------------------------------


def test_the_home_page_shows_featured_trending_newest_top_rated_and_categories(partners, published, client):
    ledger, shield, payroll, draft = published
    Integration.objects.filter(pk=payroll.pk).update(featured_rank=1)
    Integration.objects.filter(pk=ledger.pk).update(featured_rank=2)
    Integration.objects.filter(pk=draft.pk).update(featured_rank=0)  # never shown: not published
    now = timezone.now()
    for _ in range(3):
        Installation.objects.create(integration=ledger, organization=make_org(), environment="test")
    Installation.objects.create(integration=payroll, organization=make_org(), environment="test")
    # Many installs of Shield, but all older than a week: not trending.
    for n in range(4):
        Installation.objects.create(
            integration=shield, organization=make_org(), environment="test", installed_at=now - timedelta(days=8 + n)
        )

    html = client.get(reverse("marketplace:home")).content.decode()

    assert slugs(section(html, "featured")) == ["payroll-pro", "ledger-sync"]
    assert slugs(section(html, "trending")) == ["ledger-sync", "payroll-pro"]
    assert slugs(section(html, "newest")) == ["payroll-pro", "shield", "ledger-sync"]
    assert slugs(section(html, "top-rated")) == ["shield", "payroll-pro"]  # only rated ones
    categories = section(html, "categories")
    assert re.search(r"Accounting</strong><span[^>]*>2 integrations", categories)
    assert re.search(r"Security</strong><span[^>]*>1 integration<", categories)
    assert "ledger-draft" not in html


def test_the_home_page_leaves_out_empty_sections(partners, client):
    html = client.get(reverse("marketplace:home")).content.decode()
    assert 'data-section="featured"' not in html and 'data-section="trending"' not in html
    assert "No integrations are published yet." in html


# ---- filters, sorts, pages ----------------------------------------------------------------


def test_filters_combine_and_live_in_the_url(partners, published, client):
    url = reverse("marketplace:search")
    assert slugs(client.get(url, {"pricing": "per_call"}).content.decode()) == ["payroll-pro"]
    assert slugs(client.get(url, {"min_rating": "4"}).content.decode()) == ["shield"]
    assert slugs(client.get(url, {"min_rating": "3", "sort": "rating"}).content.decode()) == ["shield", "payroll-pro"]
    assert slugs(client.get(url, {"category": "accounting", "sort": "popularity"}).content.decode()) == [
        "payroll-pro",
        "ledger-sync",
    ]
    html = client.get(url, {"category": "accounting", "pricing": "free", "min_rating": "", "q": ""}).content.decode()
    assert slugs(html) == ["ledger-sync"]
    # The form shows what the URL asked for, so the page can be shared and refined.
    html = client.get(url, {"q": "pay", "category": "accounting", "min_rating": "3", "sort": "rating"}).content.decode()
    assert 'value="pay"' in html
    assert '<option value="accounting" selected>' in html
    assert '<option value="3" selected>' in html
    assert '<option value="rating" selected>' in html


def test_the_category_page_filters_within_its_category(partners, published, client):
    url = reverse("marketplace:category", args=["accounting"])
    assert slugs(client.get(url).content.decode()) == ["payroll-pro", "ledger-sync"]
    assert slugs(client.get(url, {"pricing": "free"}).content.decode()) == ["ledger-sync"]
    assert slugs(client.get(url, {"min_rating": "4"}).content.decode()) == []
    assert 'name="category"' not in client.get(url).content.decode()


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("popularity", ["shield", "payroll-pro", "ledger-sync"]),
        ("rating", ["shield", "payroll-pro", "ledger-sync"]),
        ("newest", ["payroll-pro", "shield", "ledger-sync"]),
        ("name", ["ledger-sync", "payroll-pro", "shield"]),
        ("", ["payroll-pro", "shield", "ledger-sync"]),  # newest without a query
    ],
)
def test_each_sort_orders_the_results(partners, published, client, sort, expected):
    assert slugs(client.get(reverse("marketplace:search"), {"sort": sort}).content.decode()) == expected


def test_pages_of_results_keep_the_filters_in_their_links(partners, client):
    bulk_published(partners.org, 30, pricing_model="free")
    url = reverse("marketplace:search")
    first = client.get(url, {"pricing": "free", "sort": "newest"}).content.decode()
    assert len(slugs(first)) == 12
    assert "30 integrations · page 1 of 3" in first
    assert 'href="?pricing=free&amp;sort=newest&amp;page=2"' in first
    third = client.get(url, {"pricing": "free", "sort": "newest", "page": "3"}).content.decode()
    assert slugs(third) == [f"bulk-{n}" for n in range(24, 30)]
    assert 'href="?pricing=free&amp;sort=newest&amp;page=2"' in third
    # A page past the end shows the last one rather than an error.
    assert slugs(client.get(url, {"pricing": "free", "sort": "newest", "page": "99"}).content.decode()) == slugs(third)


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"min_rating": "lots"}, "min_rating", "Choose a rating from 1 to 5."),
        ({"min_rating": "9"}, "min_rating", "Ensure this value is less than or equal to 5."),
        ({"pricing": "cheap"}, "pricing", "Select a valid choice."),
        ({"sort": "random"}, "sort", "Select a valid choice."),
        ({"category": "nope"}, "category", "Select a valid choice."),
    ],
)
def test_a_bad_filter_value_is_explained_next_to_its_field(partners, published, client, params, field, message):
    response = client.get(reverse("marketplace:search"), {**params, "q": "sync"})
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(rf'<p class="field-error" id="id_{field}_error">{re.escape(message)}', html), html
    # The valid part of the search still applies.
    assert slugs(html) == ["ledger-sync"]


# ---- detail and partner profile -----------------------------------------------------------


def test_the_detail_page_shows_the_partner_rating_breakdown_and_changelog(partners, published, client):
    _ledger, shield, _payroll, _draft = published
    IntegrationVersion.objects.create(integration=shield, version="1.1.0", notes="Faster alerts")
    html = client.get(reverse("marketplace:detail", args=[shield.slug])).content.decode()
    profile_url = reverse("marketplace:partner_profile", args=[partners.org.public_id])
    assert f'href="{profile_url}"' in html
    assert "★ 4.5" in html and "(2 ratings)" in html
    assert "30 installs" in html
    assert "Faster alerts" in html and "1.0.0" in html
    assert "Read payments" in html
    breakdown = client.get(reverse("marketplace:detail", args=[shield.slug])).context["rating_breakdown"]
    assert [(row["stars"], row["count"], row["percent"]) for row in breakdown] == [
        (5, 1, 50),
        (4, 1, 50),
        (3, 0, 0),
        (2, 0, 0),
        (1, 0, 0),
    ]


def test_the_partner_profile_shows_its_integrations_and_weighted_average(partners, published, client):
    html = client.get(reverse("marketplace:partner_profile", args=[partners.org.public_id])).content.decode()
    assert "<h1>Ledgerly</h1>" in html
    assert "https://ledgerly.example" in html
    assert sorted(slugs(html)) == ["ledger-sync", "payroll-pro", "shield"]
    # (5 + 4 + 3) / 3 ratings, not the mean of the averages (4.5 + 3) / 2.
    assert "★ 4.0" in html and "average of 3 ratings" in html
    assert "3 published integrations" in html
    assert "ledger-draft" not in html


def test_only_verified_partners_have_a_public_profile(partners, client, world):
    for org in (partners.unverified_org, world.org):
        assert client.get(reverse("marketplace:partner_profile", args=[org.public_id])).status_code == 404
    assert client.get(reverse("marketplace:partner_profile", args=["org_nope"])).status_code == 404


def test_unpublished_integrations_are_invisible_everywhere(partners, published, client):
    ledger, _shield, _payroll, draft = published
    services.integration_unpublish(integration=ledger, actor=partners.membership(partners.owner))
    hidden = {ledger.slug, draft.slug}
    for url, params in (
        (reverse("marketplace:home"), {}),
        (reverse("marketplace:search"), {}),
        (reverse("marketplace:search"), {"q": "ledger"}),
        (reverse("marketplace:category", args=["accounting"]), {}),
        (reverse("marketplace:partner_profile", args=[partners.org.public_id]), {}),
    ):
        assert not hidden & set(slugs(client.get(url, params).content.decode())), url
    for slug in hidden:
        assert client.get(reverse("marketplace:detail", args=[slug])).status_code == 404
        assert client.get(f"/api/v1/marketplace/integrations/{slug}").status_code == 404
    api = client.get("/api/v1/marketplace/integrations", {"q": "ledger"}).json()  # the partner is "Ledgerly"
    assert {r["slug"] for r in api["data"]} == {"shield", "payroll-pro"} and api["meta"]["total"] == 2
    assert {r["slug"] for r in client.get("/api/v1/marketplace/integrations").json()["data"]} == {
        "shield",
        "payroll-pro",
    }
    partner = client.get(f"/api/v1/marketplace/partners/{partners.org.public_id}").json()
    assert partner["integrations"] == 2


# ---- the API ------------------------------------------------------------------------------


def test_the_api_filters_sorts_and_pages_like_the_pages(partners, published, client):
    def listed(**params):
        return [row["slug"] for row in client.get("/api/v1/marketplace/integrations", params).json()["data"]]

    assert listed(sort="popularity") == ["shield", "payroll-pro", "ledger-sync"]
    assert listed(sort="rating", min_rating="3") == ["shield", "payroll-pro"]
    assert listed(pricing="monthly") == ["shield"]
    assert listed(category="accounting", sort="name") == ["ledger-sync", "payroll-pro"]
    assert listed(partner=partners.org.public_id, sort="name") == ["ledger-sync", "payroll-pro", "shield"]
    body = client.get("/api/v1/marketplace/integrations", {"sort": "name", "per_page": 2, "page": 2}).json()
    assert [row["slug"] for row in body["data"]] == ["shield"]
    assert body["meta"] == {"page": 2, "per_page": 2, "total": 3, "total_pages": 2}
    assert "sort=name" in body["links"]["prev"]
    row = next(r for r in client.get("/api/v1/marketplace/integrations").json()["data"] if r["slug"] == "shield")
    assert row["rating"] == {"average": 4.5, "count": 2}
    assert row["install_count"] == 30
    assert row["logo_url"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_rating": "lots"}, "min_rating"),
        ({"min_rating": "6"}, "min_rating"),
        ({"pricing": "cheap"}, "pricing"),
        ({"sort": "random"}, "sort"),
        ({"category": "nope"}, "category"),
        ({"partner": "org_nope"}, "partner"),
        ({"per_page": "0"}, "per_page"),
    ],
)
def test_the_api_answers_bad_filters_with_a_400_problem_naming_the_field(partners, client, params, field):
    response = client.get("/api/v1/marketplace/integrations", params)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith("/problems/validation-error")
    assert list(body["errors"]) == [field]


def test_the_api_detail_has_rating_installs_images_scopes_and_partner(partners, published, client):
    _ledger, shield, _payroll, _draft = published
    body = client.get(f"/api/v1/marketplace/integrations/{shield.slug}").json()
    assert body["rating"] == {"average": 4.5, "count": 2}
    assert body["install_count"] == 30
    assert body["images"] == []
    assert body["partner"] == {"id": partners.org.public_id, "name": "Ledgerly"}
    assert body["pricing"] == {"model": "monthly", "amount": 2900, "currency": "USD", "free_tier_calls": 0}
    assert {"code": "payments:read", "description": "Read payments"} in body["scopes"]


def test_the_api_lists_categories_with_counts_and_shows_partner_profiles(partners, published, client, world):
    categories = client.get("/api/v1/marketplace/categories").json()
    counts = {row["slug"]: row["integrations"] for row in categories["data"]}
    assert counts["accounting"] == 2 and counts["security"] == 1
    assert categories["meta"]["total"] == Category.objects.count()
    partner = client.get(f"/api/v1/marketplace/partners/{partners.org.public_id}").json()
    assert partner == {
        "id": partners.org.public_id,
        "name": "Ledgerly",
        "website": "https://ledgerly.example",
        "country": "GB",
        "integrations": 3,
        "rating": {"average": 4.0, "count": 3},
    }
    for org in (partners.unverified_org, world.org):
        response = client.get(f"/api/v1/marketplace/partners/{org.public_id}")
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/problem+json")


# ---- query counts -------------------------------------------------------------------------


def _queries(client, url: str, params: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params or {}).status_code == 200
    return len(captured)


def _grow_to(partners, total: int) -> None:
    """`total` published accounting integrations by the partner, each with a logo-less card,
    rated, installed this week and featured, so every home section fills up."""
    have = Integration.objects.filter(status=Integration.Status.PUBLISHED).count()
    rows = bulk_published(partners.org, total - have, prefix=f"Grow {have}", featured_rank=1)
    Integration.objects.filter(pk__in=[r.pk for r in rows]).update(rating_count=1, rating_sum=4, rating_average=4)
    IntegrationImage.objects.bulk_create(
        [
            IntegrationImage(
                integration=r,
                kind="logo",
                file=f"marketplace/{r.pk}/logo.png",
                content_type="image/png",
                width=64,
                height=64,
                size_bytes=1,
                sha256="0" * 64,
            )
            for r in rows
        ]
    )
    buyer = make_org()
    Installation.objects.bulk_create(
        [Installation(integration=r, organization=buyer, environment="test") for r in rows]
    )


@pytest.mark.parametrize(
    ("name", "url", "params"),
    [
        ("home", lambda p: reverse("marketplace:home"), {}),
        ("search", lambda p: reverse("marketplace:search"), {"q": "grow", "sort": "relevance"}),
        ("search, filtered", lambda p: reverse("marketplace:search"), {"pricing": "free", "min_rating": "3"}),
        ("category", lambda p: reverse("marketplace:category", args=["accounting"]), {"sort": "rating"}),
        ("partner profile", lambda p: reverse("marketplace:partner_profile", args=[p.org.public_id]), {}),
        ("api list", lambda p: "/api/v1/marketplace/integrations", {"q": "grow", "per_page": 24}),
        ("api categories", lambda p: "/api/v1/marketplace/categories", {}),
    ],
)
def test_list_pages_make_as_many_queries_for_24_results_as_for_1(
    partners, client, django_assert_max_num_queries, name, url, params
):
    _grow_to(partners, 1)
    client.force_login(partners.developer)
    one = _queries(client, url(partners), params)
    _grow_to(partners, 24)
    body = client.get(url(partners), params).content
    shown = body.count(b"data-integration=") + body.count(b'"slug":"grow-')
    assert shown >= 6 or b'"integrations":24' in body, name
    with django_assert_max_num_queries(one):
        client.get(url(partners), params)
    assert one <= 15, name


def test_the_detail_page_query_count_does_not_grow_with_reviews_images_or_versions(
    partners, published, client, django_assert_max_num_queries
):
    _ledger, shield, _payroll, _draft = published
    url = reverse("marketplace:detail", args=[shield.slug])
    api = f"/api/v1/marketplace/integrations/{shield.slug}"
    page_before, api_before = _queries(client, url), _queries(client, api)
    rate(shield, *([5, 4, 3] * 8))
    for n in range(10):
        IntegrationVersion.objects.create(integration=shield, version=f"2.{n}.0")
    with django_assert_max_num_queries(page_before):
        client.get(url)
    with django_assert_max_num_queries(api_before):
        client.get(api)
