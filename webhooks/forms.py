from __future__ import annotations

from django import forms

from webhooks import catalogue
from webhooks.models import Delivery

TYPE_CHOICES = [(t.name, t.name) for t in catalogue.EVENT_TYPES]


def parse_headers(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise forms.ValidationError(f"“{line.strip()}” is not “Name: value”.")
        headers[name.strip()] = value.strip()
    return headers


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="Endpoint URL",
        max_length=2048,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/webhooks"}),
    )
    description = forms.CharField(max_length=500, required=False)
    environment = forms.ChoiceField(
        choices=[("test", "Test"), ("live", "Live")],
        initial="test",
        help_text="Test endpoints receive test-mode events; live endpoints must use https.",
    )
    event_types = forms.MultipleChoiceField(
        choices=TYPE_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave every box empty to receive every event type.",
    )
    headers = forms.CharField(
        label="Custom headers",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "X-Team: payments"}),
        help_text="One “Name: value” per line, sent with every delivery.",
    )
    rate_limit_per_second = forms.IntegerField(
        label="Rate limit (deliveries per second)", required=False, min_value=1, help_text="Empty: no limit."
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["environment"]

    def clean_headers(self):
        return parse_headers(self.cleaned_data.get("headers", ""))


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *Delivery.Status.choices], required=False)
    type = forms.ChoiceField(label="Event type", choices=[("", "Any type"), *TYPE_CHOICES], required=False)
    since = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), label="Since"
    )


class TestEventForm(forms.Form):
    type = forms.ChoiceField(label="Event type", choices=TYPE_CHOICES, initial="webhook.test")


class RecoverForm(forms.Form):
    since = forms.DateTimeField(
        label="Resend failed deliveries since", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )


class ResendForm(forms.Form):
    endpoint = forms.ChoiceField(label="Endpoint")

    def __init__(self, *args, endpoints, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endpoint"].choices = [(e.public_id, e.url) for e in endpoints]
