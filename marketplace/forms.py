"""Forms of the marketplace pages: the integration editor, the review decision, the search bar."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from accounts.models import Membership
from apikeys.forms import SCOPE_CHOICES, ScopePickerMixin, split_lines
from marketplace.models import Category, Integration, IntegrationImage
from marketplace.selectors import MIN_RATINGS, SORT_LABELS
from portal.lib.money import CURRENCIES, MoneyError, from_major, normalize_currency, to_major

CURRENCY_CHOICES = [(code, code) for code in ("USD", "EUR", "GBP") if code in CURRENCIES]
PRICING_FILTER = [("", "Any pricing"), *Integration.Pricing.choices]


class IntegrationForm(ScopePickerMixin, forms.Form):
    name = forms.CharField(max_length=80)
    slug = forms.SlugField(
        max_length=80, required=False, help_text="The address of the listing. Left empty, it is made from the name."
    )
    tagline = forms.CharField(max_length=140, help_text="One sentence shown in search results.")
    category = forms.ModelChoiceField(queryset=Category.objects.all(), empty_label=None)
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text="Markdown: headings, lists, links, emphasis and code. Other HTML is removed.",
    )
    website_url = forms.URLField(required=False, label="Website", assume_scheme="https")
    docs_url = forms.URLField(required=False, label="Documentation", assume_scheme="https")
    support_url = forms.URLField(required=False, label="Support", assume_scheme="https")
    install_url = forms.URLField(
        required=False,
        label="Install URL",
        assume_scheme="https",
        help_text="Where your app starts an install (it sends the developer to our consent screen with PKCE). "
        "https, or http on 127.0.0.1 or localhost in test mode.",
    )
    scopes = forms.MultipleChoiceField(
        choices=SCOPE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Ask for at least one scope."},
    )
    redirect_uris = forms.CharField(
        label="Redirect URIs",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "https://app.example.com/oauth/callback"}),
        help_text="One exact URI per line. https, or http on 127.0.0.1 or localhost in test mode.",
    )
    pricing_model = forms.ChoiceField(choices=Integration.Pricing.choices, label="Pricing")
    price = forms.DecimalField(
        required=False,
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=4,
        label="Price",
        help_text="Per call or per month, in the currency's major unit (e.g. 0.05).",
    )
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, initial="USD")
    free_tier_calls = forms.IntegerField(
        required=False, min_value=0, label="Free calls per month", help_text="Monthly plans only."
    )
    version = forms.CharField(max_length=32, initial="1.0.0")
    release_notes = forms.CharField(
        required=False, label="What's new", widget=forms.Textarea(attrs={"rows": 3}), help_text="For the changelog."
    )

    def __init__(self, *args, actor: Membership, integration: Integration | None = None, **kwargs):
        if integration is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_from(integration)
        super().__init__(*args, **kwargs)
        self.actor = actor
        if integration is None:
            choices = [("test", "Test")]
            if actor.has_perm("keys:live"):
                choices.append(("live", "Live"))
            self.fields["environment"] = forms.ChoiceField(
                choices=choices,
                initial="test",
                label="OAuth mode",
                help_text="The mode of the OAuth application behind the integration.",
            )
            self.order_fields(["name", "slug", "tagline", "category", "environment"])

    @staticmethod
    def initial_from(integration: Integration) -> dict:
        application = integration.oauth_application
        return {
            "name": integration.name,
            "slug": integration.slug,
            "tagline": integration.tagline,
            "category": integration.category_id,
            "description": integration.description,
            "website_url": integration.website_url,
            "docs_url": integration.docs_url,
            "support_url": integration.support_url,
            "install_url": integration.install_url,
            "scopes": list(integration.scopes),
            "redirect_uris": "\n".join(application.redirect_uri_list) if application else "",
            "pricing_model": integration.pricing_model,
            "price": to_major(integration.price_minor, integration.currency) if integration.price_minor else None,
            "currency": integration.currency,
            "free_tier_calls": integration.free_tier_calls or None,
            "version": integration.version,
            "release_notes": integration.release_notes,
        }

    def clean(self):
        cleaned = super().clean()
        price = cleaned.get("price") or Decimal(0)
        currency = cleaned.get("currency") or "USD"
        try:
            minor = from_major(price, normalize_currency(currency))
        except MoneyError as exc:
            self.add_error("currency", str(exc))
            return cleaned
        if to_major(minor, currency) != price:
            self.add_error("price", f"{currency} prices have at most {CURRENCIES[currency][0]} decimal places.")
        cleaned["price_minor"] = minor
        return cleaned

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "slug": data.get("slug") or "",
            "tagline": data["tagline"],
            "category": data["category"],
            "description": data["description"],
            "website_url": data.get("website_url") or "",
            "docs_url": data.get("docs_url") or "",
            "support_url": data.get("support_url") or "",
            "install_url": data.get("install_url") or "",
            "scopes": data["scopes"],
            "pricing_model": data["pricing_model"],
            "price_minor": data.get("price_minor") or 0,
            "currency": data["currency"],
            "free_tier_calls": data.get("free_tier_calls") or 0,
            "version": data["version"],
            "release_notes": data.get("release_notes") or "",
        }

    def redirect_uri_list(self) -> list[str]:
        return split_lines(self.cleaned_data.get("redirect_uris", ""))


IMAGE_ACCEPT = "image/png,image/jpeg,image/webp"


class IntegrationImageForm(forms.Form):
    """One upload: the logo or a screenshot. The file is checked by the service, which sniffs
    the bytes; the browser's `accept` hint and the file name are never trusted."""

    kind = forms.ChoiceField(choices=IntegrationImage.Kind.choices, widget=forms.HiddenInput)
    file = forms.FileField(
        widget=forms.FileInput(attrs={"accept": IMAGE_ACCEPT}),
        error_messages={"required": "Choose an image file.", "empty": "The file is empty."},
    )
    caption = forms.CharField(required=False, max_length=140, help_text="Shown under the screenshot.")

    def __init__(self, *args, kind: str, **kwargs):
        kwargs.setdefault("prefix", kind)
        kwargs.setdefault("initial", {"kind": kind})
        super().__init__(*args, **kwargs)
        self.kind = kind
        if kind == IntegrationImage.Kind.LOGO:
            del self.fields["caption"]
            self.fields["file"].label = "Logo"
            limit = settings.MARKETPLACE_LOGO_MAX_BYTES
            self.fields["file"].help_text = (
                f"PNG, JPEG or WebP, at most {filesizeformat(limit)}; square works best. "
                "We re-encode it as a PNG of at most 512×512. A new logo replaces the old one."
            )
        else:
            self.fields["file"].label = "Screenshot"
            limit = settings.MARKETPLACE_SCREENSHOT_MAX_BYTES
            self.fields["file"].help_text = (
                f"PNG, JPEG or WebP, at most {filesizeformat(limit)}; up to "
                f"{IntegrationImage.MAX_SCREENSHOTS}. We re-encode it to fit 1600×1000."
            )

    def clean_kind(self):
        if self.cleaned_data["kind"] != self.kind:
            raise forms.ValidationError("Upload through the logo or the screenshot form.")
        return self.kind


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[("publish", "Publish"), ("reject", "Reject")])
    notes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Sent to the partner. Required when you reject.",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("decision") == "reject" and not (cleaned.get("notes") or "").strip():
            self.add_error("notes", "Tell the partner what to change.")
        return cleaned


class SearchForm(forms.Form):
    """The marketplace's search bar and filters, submitted with GET so every result list has
    its own shareable URL. A bad value is reported next to its field; the others still apply."""

    q = forms.CharField(
        required=False,
        max_length=200,
        label="Search",
        widget=forms.SearchInput(attrs={"placeholder": "Name, partner, what it does…"}),
    )
    category = forms.ChoiceField(required=False, label="Category")
    pricing = forms.ChoiceField(required=False, choices=PRICING_FILTER, label="Pricing")
    min_rating = forms.DecimalField(
        required=False,
        min_value=1,
        max_value=5,
        max_digits=2,
        decimal_places=1,
        label="Rating",
        widget=forms.Select(choices=[("", "Any rating"), *((v, f"{v} ★ and up") for v in MIN_RATINGS)]),
        error_messages={"invalid": "Choose a rating from 1 to 5."},
    )
    sort = forms.ChoiceField(required=False, choices=[("", "Best match"), *SORT_LABELS.items()], label="Sort")

    def __init__(self, *args, categories, with_category: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if with_category:
            self.fields["category"].choices = [("", "All categories"), *((c.slug, c.name) for c in categories)]
        else:
            del self.fields["category"]

    def filters(self) -> dict:
        """The valid filters (after is_valid()); an invalid field is left out, not the whole search."""
        data = getattr(self, "cleaned_data", {})
        return {
            "query": data.get("q") or "",
            "category": data.get("category") or "",
            "pricing": data.get("pricing") or "",
            "min_rating": data.get("min_rating"),
            "sort": data.get("sort") or "",
        }
