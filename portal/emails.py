"""Every e-mail the portal sends: rendered from templates, sent by a Celery worker.

Templates live in templates/emails/<name>_subject.txt, <name>.txt and <name>.html.
`send_templated_email` renders now (so the worker needs no request) and queues the
send after the surrounding transaction commits, so a rolled-back change sends nothing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string


def render_email(template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    context = {"portal_name": settings.PORTAL_NAME, "base_url": settings.PORTAL_BASE_URL, **context}
    subject = " ".join(render_to_string(f"emails/{template}_subject.txt", context).split())
    text = render_to_string(f"emails/{template}.txt", context)
    html = render_to_string(f"emails/{template}.html", context)
    return subject, text, html


def send_templated_email(*, to: list[str] | str, template: str, context: dict[str, Any]) -> None:
    from portal.tasks import send_email

    recipients = [to] if isinstance(to, str) else list(to)
    if not recipients:
        return
    subject, text, html = render_email(template, context)
    transaction.on_commit(lambda: send_email.delay(to=recipients, subject=subject, text=text, html=html))


def absolute_url(path: str) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + path
