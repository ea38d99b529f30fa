from celery import shared_task

from apikeys.capture import request_logs_flush
from apikeys.services import apikey_send_expiry_notices


@shared_task(ignore_result=True)
def flush_request_logs() -> int:
    """Beat, every 10 s: move captured requests into RequestLog in bulk."""
    return request_logs_flush()


@shared_task(ignore_result=True)
def send_expiry_notices() -> int:
    """Beat, hourly: notices 30, 7 and 1 days before keys expire."""
    return apikey_send_expiry_notices()


@shared_task(ignore_result=True)
def purge_idempotency_records() -> int:
    """Beat, hourly: forget Idempotency-Key answers older than 24 h."""
    from portal.api import idempotency_records_purge

    return idempotency_records_purge()


@shared_task(ignore_result=True)
def purge_expired_oauth_tokens() -> int:
    """Beat, hourly: delete expired OAuth access tokens (client credentials too), codes and dead refresh tokens."""
    from apikeys.services import oauth_token_purge_expired

    return oauth_token_purge_expired()
