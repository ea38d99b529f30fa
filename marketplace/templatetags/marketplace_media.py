"""Template access to an integration's logo and screenshots (one query per integration, or
none when the list page prefetched "images")."""

from django import template

from marketplace.selectors.media import integration_logo, integration_screenshots

register = template.Library()


@register.filter
def logo_of(integration):
    return integration_logo(integration)


@register.filter
def screenshots_of(integration):
    return integration_screenshots(integration)
