from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from marketplace import services
from marketplace.models import Integration
from tests.marketplace.conftest import create, publish

EDITOR_POST = {
    "name": "Books Bridge",
    "slug": "",
    "tagline": "Bridge payments into your books",
    "category": "",
    "description": "Hello <script>alert(1)</script> **bold**",
    "scopes": ["payments:read"],
    "redirect_uris": "http://localhost:9000/callback",
    "environment": "test",
    "pricing_model": "per_call",
    "price": "0.05",
    "currency": "USD",
    "version": "1.0.0",
}


def _post(category) -> dict:
    return {**EDITOR_POST, "category": str(category.pk)}


def test_a_verified_partner_creates_an_integration_and_sees_its_client_secret_once(partners, client):
    from marketplace.models import Category

    client.force_login(partners.owner)
    response = client.post(reverse("marketplace:create"), _post(Category.objects.get(slug="accounting")))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    integration = Integration.objects.get()
    assert (integration.slug, integration.price_minor, integration.pricing_model) == ("books-bridge", 5, "per_call")
    assert integration.oauth_application.client_id in response.content.decode()


def test_the_preview_renders_sanitised_markdown_without_saving(partners, client):
    from marketplace.models import Category

    client.force_login(partners.owner)
    response = client.post(reverse("marketplace:create"), {**_post(Category.objects.get(slug="crm")), "preview": "1"})
    body = response.content.decode()
    assert "<strong>bold</strong>" in body
    assert "<script>alert(1)" not in body
    assert not Integration.objects.exists()


def test_an_unverified_partner_sees_why_and_nothing_is_created(partners, client):
    from marketplace.models import Category

    client.force_login(partners.unverified_owner)
    page = client.get(reverse("marketplace:mine")).content.decode()
    assert "Only verified partners can publish integrations." in page
    assert "legal name" in page
    response = client.post(reverse("marketplace:create"), _post(Category.objects.get(slug="crm")))
    assert "Only verified partners" in response.content.decode()
    assert not Integration.objects.exists()


def test_another_partner_gets_404_on_someone_elses_integration(partners, client):
    integration = create(partners.membership(partners.owner))
    client.force_login(partners.other_owner)
    for name in ("status", "edit"):
        assert client.get(reverse(f"marketplace:{name}", args=[integration.public_id])).status_code == 404
    assert client.post(reverse("marketplace:submit", args=[integration.public_id])).status_code == 404
    integration.refresh_from_db()
    assert integration.status == Integration.Status.DRAFT


def test_drafts_are_invisible_to_others_but_previewable_by_their_partner(partners, client):
    integration = create(partners.membership(partners.owner))
    url = reverse("marketplace:detail", args=[integration.slug])
    assert client.get(url).status_code == 404
    client.force_login(partners.other_owner)
    assert client.get(url).status_code == 404
    assert integration.name not in client.get(reverse("marketplace:search"), {"q": "ledger"}).content.decode()
    client.force_login(partners.developer)
    assert "Preview: this integration is draft" in client.get(url).content.decode()


def test_submit_then_staff_publish_then_it_is_found_by_search_and_detail(
    partners, client, django_capture_on_commit_callbacks
):
    integration = create(partners.membership(partners.owner))
    client.force_login(partners.owner)
    client.post(reverse("marketplace:submit", args=[integration.public_id]))
    client.force_login(partners.staff)
    queue = client.get(reverse("marketplace:review_queue")).content.decode()
    assert integration.name in queue
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("marketplace:review", args=[integration.public_id]), {"decision": "publish"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    client.logout()
    for q in ("ledger sync", "accounting ledger", "Ledgerly", "sync"):
        page = client.get(reverse("marketplace:search"), {"q": q}).content.decode()
        assert f'data-integration="{integration.slug}"' in page, q
    assert (
        'data-integration="ledger-sync"'
        not in client.get(reverse("marketplace:search"), {"q": "payroll"}).content.decode()
    )
    detail = client.get(reverse("marketplace:detail", args=[integration.slug])).content.decode()
    assert "<strong>every payment</strong>" in detail
    assert "Read payments" in detail  # the scope explained from the catalogue
    assert "1.0.0" in detail


def test_a_rejection_shows_the_notes_to_the_partner(partners, client):
    membership = partners.membership(partners.owner)
    integration = create(membership)
    services.integration_submit(integration=integration, actor=membership)
    client.force_login(partners.staff)
    response = client.post(reverse("marketplace:review", args=[integration.public_id]), {"decision": "reject"})
    assert "Tell the partner what to change." in response.content.decode()
    client.post(
        reverse("marketplace:review", args=[integration.public_id]),
        {"decision": "reject", "notes": "Link your support page."},
    )
    client.force_login(partners.developer)
    page = client.get(reverse("marketplace:status", args=[integration.public_id])).content.decode()
    assert "Link your support page." in page
    assert "Submit for review" in page


def test_the_review_queue_is_staff_only(partners, client):
    client.force_login(partners.owner)
    assert client.get(reverse("marketplace:review_queue")).status_code == 403
    integration = create(partners.membership(partners.owner))
    assert client.get(reverse("marketplace:review", args=[integration.public_id])).status_code == 403


def test_category_and_filters_live_in_the_url(partners, client):
    membership = partners.membership(partners.owner)
    publish(create(membership), partners.staff, membership)
    paid = create(
        membership, name="Paid Insights", category=_category("analytics"), pricing_model="monthly", price_minor=900
    )
    publish(paid, partners.staff, membership)
    page = client.get(reverse("marketplace:category", args=["analytics"])).content.decode()
    assert 'data-integration="paid-insights"' in page and 'data-integration="ledger-sync"' not in page
    page = client.get(reverse("marketplace:search"), {"pricing": "free"}).content.decode()
    assert 'data-integration="ledger-sync"' in page and 'data-integration="paid-insights"' not in page
    assert client.get(reverse("marketplace:category", args=["nope"])).status_code == 404


def _category(slug):
    from marketplace.models import Category

    return Category.objects.get(slug=slug)


@pytest.mark.parametrize("url_name", ["marketplace:home", "marketplace:search"])
def test_list_pages_do_a_bounded_number_of_queries(partners, client, django_assert_max_num_queries, url_name):
    membership = partners.membership(partners.owner)
    for n in range(8):
        publish(create(membership, name=f"Tool {n}", category=_category("security")), partners.staff, membership)
    client.force_login(partners.developer)
    # The home page has five sections (featured, trending, newest, top rated, categories).
    with django_assert_max_num_queries(14 if url_name == "marketplace:home" else 12):
        assert client.get(reverse(url_name)).status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(reverse("marketplace:mine")).status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(reverse("marketplace:category", args=["security"])).status_code == 200
