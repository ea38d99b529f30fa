from __future__ import annotations

from rest_framework import serializers

from accounts.permissions import BY_CODE
from marketplace.markdown import render_markdown
from marketplace.models import Integration


class CategoryOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class PartnerOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()


class PricingOutput(serializers.Serializer):
    model = serializers.ChoiceField(source="pricing_model", choices=Integration.Pricing.choices)
    amount = serializers.IntegerField(source="price_minor", help_text="Minor units, per call or per month.")
    currency = serializers.CharField()
    free_tier_calls = serializers.IntegerField()


class IntegrationOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    slug = serializers.SlugField()
    name = serializers.CharField()
    tagline = serializers.CharField()
    category = CategoryOutput()
    partner = PartnerOutput(source="organization")
    pricing = PricingOutput(source="*")
    version = serializers.CharField()
    published_at = serializers.DateTimeField()


class ScopeOutput(serializers.Serializer):
    code = serializers.CharField()
    description = serializers.CharField()


class VersionOutput(serializers.Serializer):
    version = serializers.CharField()
    notes = serializers.CharField()
    published_at = serializers.DateTimeField()


class IntegrationDetailOutput(IntegrationOutput):
    description = serializers.CharField(help_text="Markdown, as the partner wrote it.")
    description_html = serializers.SerializerMethodField(help_text="The description rendered and sanitised.")
    website_url = serializers.CharField()
    docs_url = serializers.CharField()
    support_url = serializers.CharField()
    scopes = serializers.SerializerMethodField()
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
