"""Helpers shared by the HTML views of every app."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError


def apply_service_errors(form, error: ValidationError, aliases: dict[str, str] | None = None) -> None:
    """Put a service's messages next to the matching form fields (`aliases` maps a service's
    field name to the form's); messages without a field of the form go to the top."""
    if not hasattr(error, "error_dict"):
        for message in error.messages:
            form.add_error(None, message)
        return
    aliases = aliases or {}
    for field, field_messages in error.message_dict.items():
        name = aliases.get(field, field)
        for message in field_messages:
            form.add_error(name if name in form.fields else None, message)


def flash_service_errors(request, error: ValidationError, prefix: str = "") -> None:
    """For an action without a page of its own (it redirects back): each of a service's
    messages as an error message on the next page."""
    for message in error.messages:
        messages.error(request, f"{prefix}{message}")


def form_status(*forms) -> int:
    """The status of a page that shows forms: 400 when a submitted one came back with errors
    (shown next to their fields, nothing changed), else 200. Unbound forms and None count as fine."""
    return 400 if any(form is not None and form.is_bound and form.errors for form in forms) else 200
