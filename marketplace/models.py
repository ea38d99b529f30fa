"""Integrations that verified partners publish in the marketplace, their categories and changelog.

An integration is backed by an OAuth application of the partner's organisation (the
authorization code grant with PKCE); installing it will be an OAuth consent. Only
published integrations are visible outside the partner's organisation.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization
from apikeys.models import OAuthApplication
from portal.lib.ids import new_public_id


def new_integration_id() -> str:
    return new_public_id("int")


class Category(models.Model):
    name = models.CharField(max_length=60, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["sort_order", "name"]

    def __str__(self) -> str:
        return self.name


class Integration(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted for review"
        PUBLISHED = "published", "Published"
        REJECTED = "rejected", "Rejected"
        UNPUBLISHED = "unpublished", "Unpublished"

    class Pricing(models.TextChoices):
        FREE = "free", "Free"
        PER_CALL = "per_call", "Per API call"
        MONTHLY = "monthly", "Monthly fee"

    # States in which the partner may edit the listing; a submitted one is under review and
    # a published one is unpublished first, so what staff approved is what developers see.
    EDITABLE = (Status.DRAFT, Status.REJECTED, Status.UNPUBLISHED)

    public_id = models.CharField(max_length=32, unique=True, default=new_integration_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="integrations")
    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=80, unique=True)
    tagline = models.CharField(max_length=140)
    description = models.TextField(help_text="Markdown; rendered sanitised.")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="integrations")
    website_url = models.URLField(blank=True)
    docs_url = models.URLField(blank=True)
    support_url = models.URLField(blank=True)
    scopes = models.JSONField(default=list, help_text="Permission catalogue codes the integration asks for.")
    pricing_model = models.CharField(max_length=16, choices=Pricing.choices, default=Pricing.FREE)
    price_minor = models.PositiveBigIntegerField(default=0, help_text="Per call or per month, in minor units.")
    currency = models.CharField(max_length=3, default="USD")
    free_tier_calls = models.PositiveIntegerField(default=0, help_text="Monthly plans: calls included free.")
    version = models.CharField(max_length=32, default="1.0.0")
    release_notes = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    reviewer_notes = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    oauth_application = models.OneToOneField(
        OAuthApplication, on_delete=models.SET_NULL, null=True, blank=True, related_name="integration"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-published_at"], name="integration_status_published"),
            models.Index(fields=["category", "status", "-published_at"], name="integration_cat_status_pub"),
            models.Index(fields=["status", "name"], name="integration_status_name"),
            models.Index(fields=["organization", "-created_at"], name="integration_org_created"),
            models.Index(fields=["status", "submitted_at"], name="integration_review_queue"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(pricing_model="free") & Q(price_minor=0) & Q(free_tier_calls=0))
                | (Q(pricing_model="per_call") & Q(price_minor__gt=0) & Q(free_tier_calls=0))
                | (Q(pricing_model="monthly") & Q(price_minor__gt=0)),
                name="integration_pricing_consistent",
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(reviewer_notes=""),
                name="integration_rejection_needs_notes",
            ),
            models.CheckConstraint(
                condition=~Q(status="published") | Q(published_at__isnull=False),
                name="integration_published_has_date",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED

    @property
    def is_editable(self) -> bool:
        return self.status in self.EDITABLE


class IntegrationVersion(models.Model):
    """One entry of the public changelog, recorded when staff publish a version."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=32)
    notes = models.TextField(blank=True)
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-published_at", "-id"]
        indexes = [models.Index(fields=["integration", "-published_at"], name="intversion_int_published")]
        constraints = [
            models.UniqueConstraint(fields=["integration", "version"], name="intversion_unique_per_integration")
        ]

    def __str__(self) -> str:
        return f"{self.integration} {self.version}"
