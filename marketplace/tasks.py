"""Celery tasks of the marketplace: thin wrappers over marketplace.services."""

from __future__ import annotations

from celery import shared_task

from marketplace import selectors, services


@shared_task(name="marketplace.tasks.close_billing_period")
def close_billing_period(month: str | None = None) -> str:
    """Beat, monthly (day 1, 00:30 UTC): close the previous month; a second run changes nothing."""
    result = services.billing_period_close(month=selectors.parse_month(month) if month else None)
    return f"{result.period} {'closed' if result.closed_now else 'already closed'}"
