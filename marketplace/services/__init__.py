"""Writes of the marketplace, one module per area; import them from here (`from marketplace import services`)."""

from marketplace.services.listings import (  # noqa: F401
    FIELD_LABELS,
    LISTING_FIELDS,
    MAX_SCOPES,
    integration_create,
    integration_review,
    integration_submit,
    integration_unpublish,
    integration_update,
    partner_blockers,
)
