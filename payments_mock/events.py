"""The one door to the webhooks outbox for the sandbox APIs.

Every state change calls `record(...)` inside the transaction that makes the change,
so the event exists if and only if the change does (DESIGN.md, "Events and webhooks").
The outbox itself belongs to the webhooks app; it is imported on first use so this
module can be imported before that app is ready, and a missing outbox is an error,
never a silent no-op.
"""

from __future__ import annotations

from typing import Any

EVENT_TYPES = (
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "payment.succeeded",
    "payment.failed",
    "payment.canceled",
    "payment.requires_action",
    "refund.succeeded",
    "refund.failed",
    "bank_account.verified",
    "subscription.created",
    "subscription.updated",
    "subscription.canceled",
    "invoice.paid",
    "invoice.payment_failed",
)


class OutboxUnavailable(RuntimeError):
    pass


def record(*, organization_id: int, livemode: bool, type: str, data: dict[str, Any]):
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown sandbox event type {type!r}")
    try:
        from webhooks.services import event_record
    except ImportError as exc:
        raise OutboxUnavailable(
            "webhooks.services.event_record is not available; the sandbox APIs record every state change "
            "in the webhooks outbox and cannot run without it."
        ) from exc
    from accounts.models import Organization

    organization = Organization.objects.get(pk=organization_id)
    return event_record(organization=organization, livemode=livemode, type=type, data=data)
