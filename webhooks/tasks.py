"""Webhook tasks: thin wrappers that take ids and call webhooks.services."""

from celery import shared_task

from webhooks import services


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def send_delivery(delivery_id: int) -> None:
    """One attempt of one delivery. A duplicate or stale run does nothing (the service checks the row)."""
    services.delivery_attempt(delivery_id=delivery_id)


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def send_deliveries(delivery_ids: list[int]) -> None:
    """The next attempt of each of a batch of deliveries (up to services.SEND_BATCH), as one claim,
    sends over keep-alive connections, and one transaction recording them. Duplicates do nothing."""
    services.deliveries_attempt(delivery_ids=delivery_ids, want_attempts=False)


@shared_task(ignore_result=True, expires=5)
def dispatch_due_deliveries() -> int:
    """Beat, every second: claim due deliveries in batches and enqueue their sends.

    `expires` drops a backlog of dispatcher runs after a stall rather than running
    them all at once; the next run picks up whatever is due anyway.
    """
    total = 0
    while True:
        claimed = services.deliveries_dispatch()
        total += claimed
        if claimed < services.DISPATCH_BATCH or total >= 10 * services.DISPATCH_BATCH:
            return total


@shared_task(ignore_result=True)
def sweep_unfanned_events() -> int:
    """Beat, every minute: fan out events whose after-commit fan-out never ran."""
    return services.events_sweep_unfanned()


@shared_task(ignore_result=True)
def purge_old_webhooks() -> int:
    """Beat, daily: forget finished events, deliveries and attempts older than 30 days."""
    return services.webhooks_purge_old()
