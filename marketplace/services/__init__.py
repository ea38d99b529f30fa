"""Writes of the marketplace, one module per area; import them from here (`from marketplace import services`)."""

from marketplace.services.installs import (  # noqa: F401
    install_scope_problems,
    installation_create,
    installation_record_calls,
    installation_uninstall,
)
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
from marketplace.services.media import (  # noqa: F401
    integration_image_add,
    integration_image_remove,
    integration_image_reorder,
)
from marketplace.services.revenue import (  # noqa: F401
    CloseResult,
    billing_period_close,
    ledger_refund,
    partner_account_get,
    partner_payout_details_reveal,
    partner_payout_details_update,
    partner_share_update,
    payout_mark_paid,
)
from marketplace.services.reviews import (  # noqa: F401
    review_create,
    review_hide,
    review_reply,
    review_unhide,
    review_update,
)
from marketplace.services.search import integration_search_refresh  # noqa: F401
