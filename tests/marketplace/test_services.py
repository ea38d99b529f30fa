from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import AuditLog
from apikeys.models import OAuthApplication
from marketplace import services
from marketplace.models import Category, Integration
from tests.marketplace.conftest import create, publish


def test_creating_an_integration_creates_its_authorization_code_application(partners):
    integration = create(partners.membership(partners.owner), redirect_uris=["http://127.0.0.1:8000/callback"])
    app = integration.oauth_application
    assert integration.status == Integration.Status.DRAFT
    assert integration.public_id.startswith("int_")
    assert integration.slug == "ledger-sync"
    assert app.organization == partners.org
    assert app.authorization_grant_type == OAuthApplication.GRANT_AUTHORIZATION_CODE
    assert app.redirect_uri_list == ["http://127.0.0.1:8000/callback"]
    assert app.allowed_scopes == ["customers:read", "payments:read"]
    assert AuditLog.objects.filter(action="integration.created", target_id=integration.public_id).exists()


def test_a_live_integration_refuses_a_plain_http_redirect_uri(partners):
    with pytest.raises(ValidationError) as error:
        create(
            partners.membership(partners.owner), environment="live", redirect_uris=["http://127.0.0.1:8000/callback"]
        )
    assert "redirect_uris" in error.value.message_dict
    assert not Integration.objects.exists()


def test_an_unverified_partner_cannot_create_and_is_told_what_is_missing(partners):
    membership = partners.membership(partners.unverified_owner)
    with pytest.raises(ValidationError) as error:
        create(membership)
    message = " ".join(error.value.messages)
    assert "Only verified partners" in message
    assert "legal name" in message and "contact e-mail" in message
    assert not Integration.objects.exists()
    assert not OAuthApplication.objects.exists()


def test_a_developer_organisation_cannot_create_integrations(world):
    with pytest.raises(ValidationError, match="developer organisation"):
        create(world.membership(world.owner))


def test_a_partner_that_loses_verification_cannot_submit(partners):
    membership = partners.membership(partners.owner)
    integration = create(membership)
    partners.org.partner_profile.verification_status = "pending"
    partners.org.partner_profile.save(update_fields=["verification_status"])
    with pytest.raises(ValidationError, match="waiting for staff review"):
        services.integration_submit(integration=integration, actor=membership)
    integration.refresh_from_db()
    assert integration.status == Integration.Status.DRAFT


def test_a_read_only_member_cannot_create(partners):
    from tests.factories import add_member, make_user

    viewer = make_user("viewer@ledgerly.test")
    membership = add_member(partners.org, viewer, "read_only")
    with pytest.raises(PermissionDenied):
        create(membership)


def test_pricing_must_be_consistent(partners):
    membership = partners.membership(partners.owner)
    with pytest.raises(ValidationError) as error:
        create(membership, pricing_model="per_call", price_minor=0)
    assert "price_minor" in error.value.message_dict
    integration = create(membership, pricing_model="monthly", price_minor=1900, free_tier_calls=1000)
    assert (integration.price_minor, integration.free_tier_calls) == (1900, 1000)


def test_a_slug_is_unique_across_partners(partners):
    create(partners.membership(partners.owner))
    with pytest.raises(ValidationError) as error:
        create(partners.membership(partners.other_owner))
    assert "taken" in error.value.message_dict["slug"][0]


def test_publishing_records_the_version_and_emails_owners_and_admins(partners, django_capture_on_commit_callbacks):
    membership = partners.membership(partners.developer)
    integration = create(membership, version="2.1.0", release_notes="First release")
    with django_capture_on_commit_callbacks(execute=True):
        publish(integration, partners.staff, membership)
    integration.refresh_from_db()
    assert integration.status == Integration.Status.PUBLISHED
    assert integration.published_at is not None
    assert [(v.version, v.notes) for v in integration.versions.all()] == [("2.1.0", "First release")]
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["owner@ledgerly.test"]
    assert "live in the marketplace" in mail.outbox[0].subject


def test_a_rejection_needs_notes_and_the_partner_is_emailed_them(partners, django_capture_on_commit_callbacks):
    membership = partners.membership(partners.owner)
    integration = create(membership)
    services.integration_submit(integration=integration, actor=membership)
    with pytest.raises(ValidationError):
        services.integration_review(integration=integration, reviewer=partners.staff, decision="reject", notes=" ")
    with django_capture_on_commit_callbacks(execute=True):
        services.integration_review(
            integration=integration, reviewer=partners.staff, decision="reject", notes="Explain the scopes."
        )
    integration.refresh_from_db()
    assert integration.status == Integration.Status.REJECTED
    assert integration.reviewer_notes == "Explain the scopes."
    assert "Explain the scopes." in mail.outbox[0].body
    assert AuditLog.objects.filter(action="integration.rejected", target_id=integration.public_id).exists()


def test_only_staff_review(partners):
    membership = partners.membership(partners.owner)
    integration = create(membership)
    services.integration_submit(integration=integration, actor=membership)
    with pytest.raises(PermissionDenied):
        services.integration_review(integration=integration, reviewer=partners.owner, decision="publish")


def test_a_draft_cannot_be_reviewed_and_a_submitted_one_cannot_be_edited(partners):
    membership = partners.membership(partners.owner)
    integration = create(membership)
    with pytest.raises(ValidationError, match="Only submitted"):
        services.integration_review(integration=integration, reviewer=partners.staff, decision="publish")
    services.integration_submit(integration=integration, actor=membership)
    with pytest.raises(ValidationError, match="review"):
        services.integration_update(integration=integration, actor=membership, tagline="Changed")


def test_editing_keeps_the_oauth_application_in_step(partners):
    membership = partners.membership(partners.owner)
    integration = create(membership)
    services.integration_update(
        integration=integration,
        actor=membership,
        name="Ledger Sync Pro",
        scopes=["payments:read"],
        redirect_uris=["https://ledgerly.example/v2/callback"],
        category=Category.objects.get(slug="payments"),
    )
    integration.refresh_from_db()
    app = integration.oauth_application
    app.refresh_from_db()
    assert (integration.name, integration.category.slug) == ("Ledger Sync Pro", "payments")
    assert app.name == "Ledger Sync Pro"
    assert app.allowed_scopes == ["payments:read"]
    assert app.redirect_uri_list == ["https://ledgerly.example/v2/callback"]


def test_unpublishing_hides_and_allows_resubmission(partners):
    membership = partners.membership(partners.owner)
    integration = publish(create(membership), partners.staff, membership)
    services.integration_unpublish(integration=integration, actor=membership)
    integration.refresh_from_db()
    assert integration.status == Integration.Status.UNPUBLISHED
    services.integration_submit(integration=integration, actor=membership)
    integration.refresh_from_db()
    assert integration.status == Integration.Status.SUBMITTED


def test_another_partner_cannot_change_an_integration(partners):
    integration = create(partners.membership(partners.owner))
    with pytest.raises(PermissionDenied):
        services.integration_update(
            integration=integration, actor=partners.membership(partners.other_owner), tagline="Hijacked"
        )
    with pytest.raises(PermissionDenied):
        services.integration_submit(integration=integration, actor=partners.membership(partners.other_owner))


def test_the_install_url_is_https_or_loopback_http_in_test_mode(partners):
    membership = partners.membership(partners.owner)
    integration = create(membership, install_url="https://ledgerly.example/install")
    assert integration.install_url == "https://ledgerly.example/install"
    services.integration_update(integration=integration, actor=membership, install_url="http://127.0.0.1:9000/install")
    integration.refresh_from_db()
    assert integration.install_url == "http://127.0.0.1:9000/install"
    for bad, message in (
        ("http://ledgerly.example/install", "Use https"),
        ("javascript:alert(1)", "absolute https:// URL"),
        ("https://user:secret@ledgerly.example/install", "user name or password"),
        ("/relative/install", "absolute https:// URL"),
    ):
        with pytest.raises(ValidationError) as error:
            services.integration_update(integration=integration, actor=membership, install_url=bad)
        assert message in error.value.message_dict["install_url"][0], bad
    integration.refresh_from_db()
    assert integration.install_url == "http://127.0.0.1:9000/install"


def test_a_live_integration_refuses_even_a_loopback_http_install_url(partners):
    membership = partners.membership(partners.owner)
    with pytest.raises(ValidationError) as error:
        create(membership, environment="live", install_url="http://localhost:9000/install")
    assert "install_url" in error.value.message_dict
    assert not Integration.objects.exists()
    integration = create(membership, environment="live", install_url="https://ledgerly.example/install")
    with pytest.raises(ValidationError, match="Use https"):
        services.integration_update(
            integration=integration, actor=membership, install_url="http://127.0.0.1:9000/install"
        )


def test_listing_links_must_be_absolute_http_urls(partners):
    membership = partners.membership(partners.owner)
    with pytest.raises(ValidationError) as error:
        create(membership, website_url="javascript:alert(1)", docs_url="ftp://ledgerly.example/docs")
    assert set(error.value.message_dict) == {"website_url", "docs_url"}
    assert not Integration.objects.exists()
