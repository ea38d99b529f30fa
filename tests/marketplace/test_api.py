from __future__ import annotations

from marketplace.models import Category
from tests.marketplace.conftest import create, publish


def test_anonymous_callers_list_published_integrations_in_the_envelope(partners, client):
    membership = partners.membership(partners.owner)
    publish(create(membership), partners.staff, membership)
    create(membership, name="Secret Draft")
    body = client.get("/api/v1/marketplace/integrations").json()
    assert [row["slug"] for row in body["data"]] == ["ledger-sync"]
    assert body["meta"]["total"] == 1
    row = body["data"][0]
    assert row["id"].startswith("int_")
    assert row["partner"]["name"] == "Ledgerly"
    assert row["pricing"] == {"model": "free", "amount": 0, "currency": "USD", "free_tier_calls": 0}


def test_search_category_and_sort_filter_the_list(partners, client):
    membership = partners.membership(partners.owner)
    publish(create(membership), partners.staff, membership)
    publish(
        create(membership, name="Shield", tagline="Fraud alerts", category=Category.objects.get(slug="security")),
        partners.staff,
        membership,
    )
    assert [r["slug"] for r in client.get("/api/v1/marketplace/integrations?q=fraud").json()["data"]] == ["shield"]
    assert [r["slug"] for r in client.get("/api/v1/marketplace/integrations?category=accounting").json()["data"]] == [
        "ledger-sync"
    ]
    names = [r["name"] for r in client.get("/api/v1/marketplace/integrations?sort=name").json()["data"]]
    assert names == ["Ledger Sync", "Shield"]
    bad = client.get("/api/v1/marketplace/integrations?category=nope")
    assert bad.status_code == 400
    assert bad["Content-Type"].startswith("application/problem+json")


def test_detail_explains_scopes_and_answers_404_problems_for_drafts_and_unknown_slugs(partners, client):
    membership = partners.membership(partners.owner)
    integration = publish(create(membership), partners.staff, membership)
    draft = create(membership, name="Hidden")
    body = client.get(f"/api/v1/marketplace/integrations/{integration.slug}").json()
    assert {"code": "payments:read", "description": "Read payments"} in body["scopes"]
    assert "<strong>every payment</strong>" in body["description_html"]
    assert [v["version"] for v in body["changelog"]] == ["1.0.0"]
    for slug in (draft.slug, "no-such-thing"):
        response = client.get(f"/api/v1/marketplace/integrations/{slug}")
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/problem+json")
