"""The event catalogue: every event type the portal emits, declared in code.

Each type names its group, what it means, the JSON Schema of its `data` and an
example. `event_record` refuses types that are not here, and checks `data` against
the schema's top level (an object with the required properties), which catches the
usual mistakes without a full JSON Schema engine on the write path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EventType:
    name: str
    group: str
    description: str
    schema: dict[str, Any]
    example: dict[str, Any]
    deprecated: bool = False
    tags: tuple[str, ...] = field(default=())


def _object(required: dict[str, str], optional: dict[str, str] | None = None) -> dict[str, Any]:
    properties = {name: {"type": kind} for name, kind in {**required, **(optional or {})}.items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": sorted(required),
        "properties": properties,
    }


_PAYMENT = _object(
    {"id": "string", "amount": "integer", "currency": "string", "status": "string"},
    {"customer": "string", "failure_code": "string", "description": "string"},
)
_PAYMENT_EXAMPLE = {"id": "pay_3kTq9Zb1Xr8Lm2Pq4Vw7", "amount": 2500, "currency": "EUR", "status": "succeeded"}
_REFUND = _object(
    {"id": "string", "payment": "string", "amount": "integer", "currency": "string", "status": "string"},
    {"reason": "string", "failure_code": "string"},
)
_CUSTOMER = _object({"id": "string"}, {"email": "string", "name": "string", "deleted": "boolean"})
_SUBSCRIPTION = _object(
    {"id": "string", "customer": "string", "status": "string"},
    {"price": "string", "current_period_end": "string", "cancel_at_period_end": "boolean"},
)
_INVOICE = _object(
    {"id": "string", "customer": "string", "amount_due": "integer", "currency": "string", "status": "string"},
    {"subscription": "string", "attempt_count": "integer"},
)
_BANK_ACCOUNT = _object({"id": "string", "status": "string"}, {"customer": "string", "last4": "string"})
_APIKEY = _object({"id": "string", "environment": "string"}, {"name": "string", "reason": "string"})

EVENT_TYPES: tuple[EventType, ...] = (
    EventType("payment.succeeded", "Payments", "A payment was captured.", _PAYMENT, _PAYMENT_EXAMPLE),
    EventType(
        "payment.failed",
        "Payments",
        "A payment attempt failed; `failure_code` says why.",
        _PAYMENT,
        {**_PAYMENT_EXAMPLE, "status": "failed", "failure_code": "card_declined"},
    ),
    EventType(
        "payment.canceled",
        "Payments",
        "A payment was canceled before capture.",
        _PAYMENT,
        {**_PAYMENT_EXAMPLE, "status": "canceled"},
    ),
    EventType(
        "payment.requires_action",
        "Payments",
        "A payment needs the customer to act (e.g. 3-D Secure).",
        _PAYMENT,
        {**_PAYMENT_EXAMPLE, "status": "requires_action"},
    ),
    EventType(
        "refund.succeeded",
        "Refunds",
        "A refund was paid out.",
        _REFUND,
        {
            "id": "re_8Hn2Kd0Qa1Zx5Tb7Yc3M",
            "payment": "pay_3kTq9Zb1Xr8Lm2Pq4Vw7",
            "amount": 500,
            "currency": "EUR",
            "status": "succeeded",
        },
    ),
    EventType(
        "refund.failed",
        "Refunds",
        "A refund could not be paid out.",
        _REFUND,
        {
            "id": "re_8Hn2Kd0Qa1Zx5Tb7Yc3M",
            "payment": "pay_3kTq9Zb1Xr8Lm2Pq4Vw7",
            "amount": 500,
            "currency": "EUR",
            "status": "failed",
            "failure_code": "expired_card",
        },
    ),
    EventType(
        "customer.created",
        "Customers",
        "A customer was created.",
        _CUSTOMER,
        {"id": "cus_4Rt7Yu1Io9Pa3Sd5Fg2H", "email": "jane@example.com", "name": "Jane Doe"},
    ),
    EventType(
        "customer.updated",
        "Customers",
        "A customer's details changed.",
        _CUSTOMER,
        {"id": "cus_4Rt7Yu1Io9Pa3Sd5Fg2H", "email": "jane.doe@example.com"},
    ),
    EventType(
        "customer.deleted",
        "Customers",
        "A customer was deleted.",
        _CUSTOMER,
        {"id": "cus_4Rt7Yu1Io9Pa3Sd5Fg2H", "deleted": True},
    ),
    EventType(
        "subscription.created",
        "Subscriptions",
        "A subscription started.",
        _SUBSCRIPTION,
        {"id": "sub_7Ui9Op2As4Df6Gh8Jk1L", "customer": "cus_4Rt7Yu1Io9Pa3Sd5Fg2H", "status": "active"},
    ),
    EventType(
        "subscription.updated",
        "Subscriptions",
        "A subscription's price, status or period changed.",
        _SUBSCRIPTION,
        {"id": "sub_7Ui9Op2As4Df6Gh8Jk1L", "customer": "cus_4Rt7Yu1Io9Pa3Sd5Fg2H", "status": "past_due"},
    ),
    EventType(
        "subscription.canceled",
        "Subscriptions",
        "A subscription ended.",
        _SUBSCRIPTION,
        {"id": "sub_7Ui9Op2As4Df6Gh8Jk1L", "customer": "cus_4Rt7Yu1Io9Pa3Sd5Fg2H", "status": "canceled"},
    ),
    EventType(
        "invoice.paid",
        "Invoices",
        "An invoice was paid.",
        _INVOICE,
        {
            "id": "in_2Zx4Cv6Bn8Mq1We3Rt5Y",
            "customer": "cus_4Rt7Yu1Io9Pa3Sd5Fg2H",
            "amount_due": 1900,
            "currency": "EUR",
            "status": "paid",
        },
    ),
    EventType(
        "invoice.payment_failed",
        "Invoices",
        "Collecting an invoice's payment failed.",
        _INVOICE,
        {
            "id": "in_2Zx4Cv6Bn8Mq1We3Rt5Y",
            "customer": "cus_4Rt7Yu1Io9Pa3Sd5Fg2H",
            "amount_due": 1900,
            "currency": "EUR",
            "status": "open",
            "attempt_count": 1,
        },
    ),
    EventType(
        "bank_account.verified",
        "Bank accounts",
        "A bank account passed verification.",
        _BANK_ACCOUNT,
        {"id": "ba_9Lk7Jh5Gf3Ds1Aq2We4R", "status": "verified", "last4": "6789"},
    ),
    EventType(
        "apikey.created",
        "API keys",
        "An API key was created.",
        _APIKEY,
        {"id": "key_5Tg7Yh9Uj1Ik3Ol5Pz7X", "environment": "test", "name": "CI"},
    ),
    EventType(
        "apikey.revoked",
        "API keys",
        "An API key was revoked.",
        _APIKEY,
        {"id": "key_5Tg7Yh9Uj1Ik3Ol5Pz7X", "environment": "test", "reason": "leaked"},
    ),
    EventType(
        "webhook.test",
        "Webhooks",
        "A test event sent from the portal or the API.",
        _object({"message": "string"}, {"requested_type": "string", "example": "object"}),
        {"message": "This is a test event from the developer portal."},
    ),
)

BY_NAME: dict[str, EventType] = {t.name: t for t in EVENT_TYPES}
TYPE_NAMES: tuple[str, ...] = tuple(BY_NAME)

_JSON_TYPES = {
    "string": str,
    "integer": int,
    "boolean": bool,
    "object": dict,
    "array": list,
    "number": (int, float),
}


def get(name: str) -> EventType:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"Unknown event type {name!r}; see webhooks.catalogue.") from None


def data_problems(event_type: EventType, data: Any) -> list[str]:
    """Top-level schema problems of `data` (required keys and their JSON types)."""
    if not isinstance(data, dict):
        return ["data must be a JSON object"]
    problems = [f"{key} is required" for key in event_type.schema.get("required", []) if key not in data]
    for key, spec in event_type.schema.get("properties", {}).items():
        if key in data and data[key] is not None:
            expected = _JSON_TYPES.get(spec.get("type", ""))
            value = data[key]
            if expected and (
                not isinstance(value, expected) or (spec["type"] == "integer" and isinstance(value, bool))
            ):
                problems.append(f"{key} must be a JSON {spec['type']}")
    return problems


def grouped() -> list[tuple[str, list[EventType]]]:
    groups: dict[str, list[EventType]] = {}
    for t in EVENT_TYPES:
        groups.setdefault(t.group, []).append(t)
    return list(groups.items())
