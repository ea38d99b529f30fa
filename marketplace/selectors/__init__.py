"""Reads of the marketplace, one module per area; import them from here (`from marketplace import selectors`)."""

from marketplace.selectors.catalogue import (  # noqa: F401
    MAX_QUERY_TERMS,
    SORT_LABELS,
    category_get,
    category_list_with_counts,
    integration_get_for_actor,
    integration_get_for_review,
    integration_get_public,
    integration_list_for_organization,
    integration_list_published,
    integration_review_queue,
)
