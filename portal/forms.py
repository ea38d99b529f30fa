"""Forms for support tickets. Attachments are checked here (count, size, real type from
the bytes) by the same function the services use, so a bad file is reported next to the
field and nothing is saved."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from portal import services
from portal.lib.filetypes import ALLOWED, ALLOWED_DESCRIPTION
from portal.models import SupportTicket

Status = SupportTicket.Status
Priority = SupportTicket.Priority


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input; cleans to a list of checked files (`services.CheckedFile`)."""

    def __init__(self, *args, **kwargs):
        accept = ",".join(f".{ext}" for ext in ALLOWED)
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": accept, "multiple": True}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        uploads = data if isinstance(data, (list, tuple)) else ([data] if data else [])
        uploads = [super(MultipleFileField, self).clean(upload, initial) for upload in uploads if upload]
        try:
            return services.attachments_check(uploads)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["attachments"]) from None


def _attachments_help() -> str:
    limit = settings.SUPPORT_ATTACHMENT_MAX_BYTES
    size = f"{limit / (1024 * 1024):.0f} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
    return f"Up to {services.MAX_ATTACHMENTS} files, {size} each: {ALLOWED_DESCRIPTION}."


def _attachments_field() -> MultipleFileField:
    return MultipleFileField(label="Attachments", help_text=_attachments_help())


class TicketForm(forms.Form):
    # `attachments` is added per instance, so its help text follows the size setting.
    subject = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    category = forms.ChoiceField(choices=SupportTicket.Category.choices, initial=SupportTicket.Category.API)
    priority = forms.TypedChoiceField(
        choices=Priority.choices,
        coerce=int,
        initial=Priority.NORMAL,
        help_text="Urgent: production is down or money is at risk.",
    )
    body = forms.CharField(
        label="Describe the problem",
        max_length=services.MAX_BODY,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Include request ids (X-Request-Id), times and what you expected. Never paste secret keys.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["attachments"] = _attachments_field()


class ReplyForm(forms.Form):
    body = forms.CharField(label="Your reply", max_length=services.MAX_BODY, widget=forms.Textarea(attrs={"rows": 5}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["attachments"] = _attachments_field()


class StaffReplyForm(ReplyForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["body"].label = "Reply or note"
        self.fields["internal"] = forms.BooleanField(
            label="Internal note (only staff see it; no e-mail to the customer)", required=False
        )
        self.fields["resolve"] = forms.BooleanField(
            label="Mark resolved with this reply (otherwise it waits on the requester)", required=False
        )

    def clean(self):
        data = super().clean()
        if data.get("internal") and data.get("resolve"):
            self.add_error("resolve", "An internal note does not change the status; untick one of them.")
        return data


class AssignForm(forms.Form):
    assignee = forms.ChoiceField(label="Assignee", required=False)

    def __init__(self, *args, staff: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.staff = {user.public_id: user for user in staff}
        self.fields["assignee"].choices = [("", "Unassigned")] + [
            (user.public_id, user.get_full_name()) for user in staff
        ]

    def clean_assignee(self):
        value = self.cleaned_data["assignee"]
        return self.staff.get(value) if value else None


class TicketUpdateForm(forms.Form):
    status = forms.ChoiceField(choices=Status.choices)
    priority = forms.TypedChoiceField(choices=Priority.choices, coerce=int)


class TicketFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "Any status"), ("active", "Open or waiting"), *Status.choices], required=False
    )


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("active", "Open or waiting"), *Status.choices, ("all", "Any status")],
        required=False,
        initial="active",
    )
    priority = forms.TypedChoiceField(
        choices=[("", "Any priority"), *Priority.choices], coerce=int, empty_value=None, required=False
    )
    assignee = forms.ChoiceField(
        choices=[("", "Anyone"), ("mine", "Mine"), ("unassigned", "Unassigned")], required=False
    )
