"""Helpers shared by the HTML views of every app."""

from __future__ import annotations

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
