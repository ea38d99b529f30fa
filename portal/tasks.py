from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from portal.services import tickets_auto_close


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_email(*, to: list[str], subject: str, text: str, html: str) -> None:
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=to)
    message.attach_alternative(html, "text/html")
    message.send()


@shared_task
def support_auto_close() -> int:
    """Close support tickets resolved longer ago than SUPPORT_RESOLVED_CLOSE_DAYS."""
    return tickets_auto_close()
