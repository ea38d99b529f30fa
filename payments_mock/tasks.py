"""Celery tasks: thin wrappers over payments_mock.services."""

from celery import shared_task

from payments_mock import billing, services


@shared_task(name="payments_mock.tasks.settle_due")
def settle_due() -> int:
    """Beat, every 15 s: processing payments and pending refunds whose time has come."""
    return services.settle_due()


@shared_task(name="payments_mock.tasks.reencrypt_bank_accounts")
def reencrypt_bank_accounts() -> int:
    """Run after putting a new key first in FIELD_ENCRYPTION_KEYS."""
    return services.bank_accounts_reencrypt()


@shared_task(name="payments_mock.tasks.run_billing")
def run_billing() -> int:
    """Beat, every minute: subscription renewals and dunning retries that are due (real time)."""
    return billing.billing_run()
