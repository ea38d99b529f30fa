from __future__ import annotations

from rest_framework import serializers

from accounts.permissions import BY_CODE
from marketplace.markdown import render_markdown
from marketplace.models import Integration, IntegrationImage
from marketplace.selectors import MAX_QUERY_TERMS, SORT_LABELS, image_url


class CategoryOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class CategoryWithCountOutput(CategoryOutput):
    integrations = serializers.IntegerField(source="published_count", help_text="Published integrations in it.")


class PartnerOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()


class PricingOutput(serializers.Serializer):
    model = serializers.ChoiceField(source="pricing_model", choices=Integration.Pricing.choices)
    amount = serializers.IntegerField(source="price_minor", help_text="Minor units, per call or per month.")
    currency = serializers.CharField()
    free_tier_calls = serializers.IntegerField()


class RatingOutput(serializers.Serializer):
    average = serializers.DecimalField(
        source="rating_average", max_digits=3, decimal_places=2, coerce_to_string=False, help_text="0 without ratings."
    )
    count = serializers.IntegerField(source="rating_count")


def _image_url(request, image: IntegrationImage) -> str:
    url = image_url(image)
    return request.build_absolute_uri(url) if request is not None else url


class IntegrationOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    slug = serializers.SlugField()
    name = serializers.CharField()
    tagline = serializers.CharField()
    category = CategoryOutput()
    partner = PartnerOutput(source="organization")
    pricing = PricingOutput(source="*")
    rating = RatingOutput(source="*")
    install_count = serializers.IntegerField(help_text="Active installs.")
    logo_url = serializers.SerializerMethodField()
    version = serializers.CharField()
    published_at = serializers.DateTimeField()

    def get_logo_url(self, integration: Integration) -> str | None:
        # Lists prefetch `logo_images`; the detail reads its images once (see the view).
        logos = getattr(integration, "logo_images", None)
        if logos is None:
            logos = [i for i in integration.images.all() if i.kind == IntegrationImage.Kind.LOGO]
        return _image_url(self.context.get("request"), logos[0]) if logos else None


class ScopeOutput(serializers.Serializer):
    code = serializers.CharField()
    description = serializers.CharField()


class VersionOutput(serializers.Serializer):
    version = serializers.CharField()
    notes = serializers.CharField()
    published_at = serializers.DateTimeField()


class ImageOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    kind = serializers.ChoiceField(choices=IntegrationImage.Kind.choices)
    url = serializers.SerializerMethodField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    caption = serializers.CharField()

    def get_url(self, image: IntegrationImage) -> str:
        return _image_url(self.context.get("request"), image)


class IntegrationDetailOutput(IntegrationOutput):
    description = serializers.CharField(help_text="Markdown, as the partner wrote it.")
    description_html = serializers.SerializerMethodField(help_text="The description rendered and sanitised.")
    website_url = serializers.CharField()
    docs_url = serializers.CharField()
    support_url = serializers.CharField()
    scopes = serializers.SerializerMethodField()
    images = ImageOutput(many=True, help_text="The logo and the screenshots, in gallery order.")
    changelog = VersionOutput(source="versions", many=True)

    def get_description_html(self, integration: Integration) -> str:
        return str(render_markdown(integration.description))

    def get_scopes(self, integration: Integration) -> list[dict[str, str]]:
        return ScopeOutput(
            [
                {"code": code, "description": BY_CODE[code].description}
                for code in integration.scopes
                if code in BY_CODE
            ],
            many=True,
        ).data


class PartnerRatingOutput(serializers.Serializer):
    average = serializers.DecimalField(
        source="rating_average", max_digits=3, decimal_places=2, coerce_to_string=False, allow_null=True
    )
    count = serializers.IntegerField(source="rating_count")


class PartnerProfileOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    website = serializers.SerializerMethodField()
    country = serializers.CharField(source="partner_profile.country")
    integrations = serializers.IntegerField(source="summary.integrations", help_text="Published integrations.")
    rating = PartnerRatingOutput(
        source="summary", help_text="Across its published integrations, weighted by their number of ratings."
    )

    def get_website(self, organization) -> str:
        return organization.partner_profile.website or organization.website


class IntegrationFilterInput(serializers.Serializer):
    """The list's filters: each bad value is reported under its own name in the 400 problem."""

    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    category = serializers.SlugField(required=False, allow_blank=True)
    partner = serializers.CharField(required=False, allow_blank=True, max_length=32)
    pricing = serializers.ChoiceField(required=False, allow_blank=True, choices=Integration.Pricing.choices)
    min_rating = serializers.DecimalField(required=False, allow_null=True, max_digits=3, decimal_places=2)
    sort = serializers.ChoiceField(required=False, allow_blank=True, choices=list(SORT_LABELS))

    def validate_min_rating(self, value):
        if value is not None and not (0 <= value <= 5):
            raise serializers.ValidationError("min_rating is a number from 0 to 5.")
        return value

    def validate_q(self, value: str) -> str:
        return " ".join(value.split()[: MAX_QUERY_TERMS * 4])
