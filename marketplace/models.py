"""Integrations that verified partners publish in the marketplace, their categories and changelog.

An integration is backed by an OAuth application of the partner's organisation (the
authorization code grant with PKCE); installing it will be an OAuth consent. Only
published integrations are visible outside the partner's organisation.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization
from apikeys.models import DelegatedGrant, Environment, OAuthApplication
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
    install_url = models.URLField(
        blank=True,
        help_text="Where the partner's app starts an install: it redirects to the consent with PKCE.",
    )
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
    # Staff-curated: shown on the home page in ascending rank; empty is not featured.
    featured_rank = models.PositiveSmallIntegerField(null=True, blank=True)
    # Kept by the services in the same transaction as the change (reviews, installs), so
    # lists sort and filter on them without aggregating per row.
    rating_count = models.PositiveIntegerField(default=0, editable=False)
    rating_sum = models.PositiveIntegerField(default=0, editable=False)
    rating_average = models.DecimalField(max_digits=3, decimal_places=2, default=0, editable=False)
    install_count = models.PositiveIntegerField(default=0, editable=False, help_text="Active installs.")
    # PostgreSQL full-text document (weighted name, tagline, category, partner, description);
    # unused on SQLite, which falls back to a simple match.
    search_vector = SearchVectorField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "featured_rank"], name="integration_featured"),
            models.Index(fields=["status", "-rating_average", "-rating_count"], name="integration_top_rated"),
            models.Index(fields=["status", "-install_count"], name="integration_popular"),
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


def new_image_id() -> str:
    return new_public_id("img")


def new_installation_id() -> str:
    return new_public_id("ins")


def new_review_id() -> str:
    return new_public_id("rev")


def new_ledger_entry_id() -> str:
    return new_public_id("led")


def new_payout_id() -> str:
    return new_public_id("po")


def new_statement_id() -> str:
    return new_public_id("stm")


def _image_path(instance: IntegrationImage, filename: str) -> str:
    # Never the uploader's file name: ours, with the extension of what we re-encoded.
    return f"marketplace/{instance.integration_id}/{instance.public_id}.{filename.rsplit('.', 1)[-1]}"


class IntegrationImage(models.Model):
    """A logo or a screenshot: validated, re-encoded by us and served from our own storage."""

    class Kind(models.TextChoices):
        LOGO = "logo", "Logo"
        SCREENSHOT = "screenshot", "Screenshot"

    MAX_SCREENSHOTS = 5

    public_id = models.CharField(max_length=32, unique=True, default=new_image_id, editable=False)
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="images")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    file = models.FileField(upload_to=_image_path, max_length=200)
    content_type = models.CharField(max_length=40)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size_bytes = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    caption = models.CharField(max_length=140, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["integration", "kind", "position", "id"]
        indexes = [models.Index(fields=["integration", "kind", "position"], name="intimage_int_kind_pos")]
        constraints = [
            models.UniqueConstraint(fields=["integration"], condition=Q(kind="logo"), name="intimage_one_logo"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.integration}"


class Installation(models.Model):
    """An organisation's install of an integration in one environment: an OAuth consent.

    Backed by an apikeys DelegatedGrant: the partner's application acts for this
    organisation within `scopes`. Uninstalling revokes the grant and every token under it.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        UNINSTALLED = "uninstalled", "Uninstalled"

    public_id = models.CharField(max_length=32, unique=True, default=new_installation_id, editable=False)
    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="installations")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="installations")
    environment = models.CharField(max_length=4, choices=Environment.choices)
    scopes = models.JSONField(default=list)
    grant = models.OneToOneField(
        DelegatedGrant, on_delete=models.PROTECT, null=True, blank=True, related_name="installation"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    installed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    installed_at = models.DateTimeField(default=timezone.now)
    uninstalled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    uninstalled_at = models.DateTimeField(null=True, blank=True)
    last_call_at = models.DateTimeField(null=True, blank=True)
    call_count = models.PositiveBigIntegerField(default=0, help_text="Calls made through the install, all time.")

    class Meta:
        ordering = ["-installed_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "status", "-installed_at"], name="install_org_status"),
            models.Index(fields=["integration", "-installed_at"], name="install_int_installed"),
            models.Index(fields=["installed_at", "integration"], name="install_trending"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "organization", "environment"],
                condition=Q(status="active"),
                name="install_one_active_per_org_env",
            ),
            models.CheckConstraint(condition=Q(environment__in=["live", "test"]), name="install_environment_valid"),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def livemode(self) -> bool:
        return self.environment == Environment.LIVE


class Review(models.Model):
    """One organisation's review of an integration it installed and used; the partner may reply."""

    public_id = models.CharField(max_length=32, unique=True, default=new_review_id, editable=False)
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="reviews")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="marketplace_reviews")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    rating = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=120, blank=True)
    body = models.TextField(max_length=5000)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    reply_body = models.TextField(max_length=5000, blank=True)
    reply_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reply_at = models.DateTimeField(null=True, blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)
    hidden_reason = models.CharField(max_length=300, blank=True)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["integration", "-created_at"], name="review_int_created"),
            models.Index(fields=["integration", "rating"], name="review_int_rating"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["integration", "organization"], name="review_one_per_org"),
            models.CheckConstraint(condition=Q(rating__gte=1) & Q(rating__lte=5), name="review_rating_1_to_5"),
            models.CheckConstraint(
                condition=Q(hidden_at__isnull=True) | ~Q(hidden_reason=""), name="review_hidden_needs_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rating}* {self.integration} by {self.organization}"

    @property
    def is_hidden(self) -> bool:
        return self.hidden_at is not None


# ==== Revenue ====


class PartnerAccount(models.Model):
    """A partner's commercial terms and payout details (encrypted at rest, shown masked)."""

    DEFAULT_SHARE_BASIS_POINTS = 8000  # 80% to the partner, 20% to the platform

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="partner_account")
    share_basis_points = models.PositiveSmallIntegerField(
        default=DEFAULT_SHARE_BASIS_POINTS, help_text="The partner's share of each charge, in 1/100 of a percent."
    )
    payout_account_holder = models.CharField(max_length=140, blank=True)
    payout_details_encrypted = models.TextField(blank=True, editable=False, help_text="IBAN or account number.")
    payout_details_last4 = models.CharField(max_length=4, blank=True, editable=False)
    payout_currency = models.CharField(max_length=3, default="USD")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(share_basis_points__lte=10000), name="partneraccount_share_max_100"),
        ]

    def __str__(self) -> str:
        return f"Partner account of {self.organization}"


class BillingPeriod(models.Model):
    """A calendar month; closing it is done once, by a task that is safe to run again."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    month = models.DateField(unique=True, help_text="The first day of the month (UTC).")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-month"]
        constraints = [
            models.CheckConstraint(condition=Q(month__day=1), name="billingperiod_first_of_month"),
        ]

    def __str__(self) -> str:
        return self.month.strftime("%Y-%m")


class LedgerEntry(models.Model):
    """One movement of money; append-only. Balances are sums of these, never stored.

    `account` says whose balance moves: the installing organisation's (charges), the
    partner's (shares, refund clawbacks, payouts) or the platform's (its fee). Amounts are
    signed integer minor units. `source_key` makes every posting idempotent: closing a
    period twice finds its entries already there and posts nothing.
    """

    class Kind(models.TextChoices):
        CHARGE = "charge", "Charge"
        PARTNER_SHARE = "partner_share", "Partner share"
        PLATFORM_FEE = "platform_fee", "Platform fee"
        REFUND = "refund", "Refund"
        REFUND_CLAWBACK = "refund_clawback", "Refund clawback"
        PAYOUT = "payout", "Payout"

    class Account(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        PARTNER = "partner", "Partner"
        PLATFORM = "platform", "Platform"

    public_id = models.CharField(max_length=32, unique=True, default=new_ledger_entry_id, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    account = models.CharField(max_length=10, choices=Account.choices)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entries"
    )
    period = models.ForeignKey(BillingPeriod, on_delete=models.PROTECT, related_name="entries")
    integration = models.ForeignKey(
        Integration, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entries"
    )
    installation = models.ForeignKey(
        Installation, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entries"
    )
    payout = models.ForeignKey("Payout", on_delete=models.PROTECT, null=True, blank=True, related_name="entries")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    quantity = models.PositiveBigIntegerField(default=0, help_text="Calls billed, for metered charges.")
    description = models.CharField(max_length=200)
    source_key = models.CharField(max_length=160, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [
            models.Index(fields=["organization", "account", "period"], name="ledger_org_account_period"),
            models.Index(fields=["period", "account", "kind"], name="ledger_period_account_kind"),
            models.Index(fields=["integration", "period"], name="ledger_integration_period"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(account="platform") | Q(organization__isnull=False), name="ledger_org_unless_platform"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_minor} {self.currency}"


class Payout(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"

    public_id = models.CharField(max_length=32, unique=True, default=new_payout_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="payouts")
    period = models.ForeignKey(BillingPeriod, on_delete=models.PROTECT, related_name="payouts")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "period", "currency"], name="payout_one_per_period"),
        ]

    def __str__(self) -> str:
        return self.public_id


def _statement_path(instance: Statement, filename: str) -> str:
    return f"statements/{instance.period.month:%Y-%m}/{instance.public_id}.{filename.rsplit('.', 1)[-1]}"


class Statement(models.Model):
    """A monthly statement: for a partner (charges through its integrations, its share, the
    payout) or for an installing organisation (what it was charged). CSV and PDF."""

    class Kind(models.TextChoices):
        PARTNER = "partner", "Partner statement"
        CUSTOMER = "customer", "Customer statement"

    public_id = models.CharField(max_length=32, unique=True, default=new_statement_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="statements")
    period = models.ForeignKey(BillingPeriod, on_delete=models.PROTECT, related_name="statements")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    currency = models.CharField(max_length=3)
    total_minor = models.BigIntegerField()
    csv_file = models.FileField(upload_to=_statement_path, max_length=200)
    pdf_file = models.FileField(upload_to=_statement_path, max_length=200)
    payout = models.OneToOneField(Payout, on_delete=models.PROTECT, null=True, blank=True, related_name="statement")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-period__month", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "period", "kind", "currency"], name="statement_one_per_period"
            ),
        ]

    def __str__(self) -> str:
        return self.public_id
