from celery import shared_task

from accounts.services import accounts_housekeeping


@shared_task
def housekeeping() -> dict[str, int]:
    return accounts_housekeeping()
