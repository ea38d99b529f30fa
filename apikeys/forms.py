"""Forms for the key, template, policy and OAuth application pages.

Forms parse what a person typed (lines, comma lists, expiry choices) into the plain
values the services take; the rules themselves (CIDRs, country codes, scopes one may
grant, the naming policy) live in apikeys.services, whose per-field errors the views
put back next to these fields.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone

from accounts import permissions as catalogue
from accounts.models import Membership
from apikeys.models import ApiKey, Environment
from apikeys.services import ROTATION_GRACE_PERIODS

SCOPE_CHOICES = [(p.code, p.code) for p in catalogue.CATALOGUE]
EXPIRY_DAYS = (30, 90, 365)
GRACE_CHOICES = [(str(seconds), label.capitalize()) for seconds, label in ROTATION_GRACE_PERIODS.items()]
GRANT_CHOICES = [
    ("client_credentials", "Client credentials (server to server)"),
    ("authorization_code", "Authorization code with PKCE (acting for a user)"),
]


def split_lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def split_commas(value: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\s]+", value or "") if part.strip()]


def end_of_day(day) -> datetime:
    """A chosen date means the key works until that day is over, in the portal's time zone."""
    return timezone.make_aware(datetime.combine(day, time(23, 59, 59)))


class ScopePickerMixin:
    """Checkbox groups from the catalogue; scopes the member lacks are shown but disabled."""

    scope_field = "scopes"
    actor: Membership

    def grouped_scopes(self) -> list[dict]:
        """Each catalogue group with its scopes: ticked, and grantable by this member."""
        if self.is_bound:
            selected = set(self.data.getlist(self.scope_field))
        else:
            selected = set(self.initial.get(self.scope_field) or [])
        held = self.actor.permissions
        groups = []
        for group, perms in catalogue.grouped().items():
            scopes = [
                {
                    "code": p.code,
                    "description": p.description,
                    "checked": p.code in selected,
                    "grantable": p.code in held,
                }
                for p in perms
            ]
            groups.append({"name": group, "scopes": scopes, "selected": sum(s["checked"] for s in scopes)})
        return groups


def _scopes_field(required: bool = True) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=SCOPE_CHOICES,
        required=required,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "invalid_choice": "%(value)s is not a scope in the catalogue.",
            "required": "Pick at least one scope.",
        },
    )


def _ips_field() -> forms.CharField:
    return forms.CharField(
        required=False,
        label="IP allowlist",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "203.0.113.0/24\n2001:db8::/32"}),
        help_text="One IPv4 or IPv6 address or CIDR range per line. Empty allows any address.",
    )


def _countries_field() -> forms.CharField:
    return forms.CharField(
        required=False,
        label="Country allowlist",
        widget=forms.TextInput(attrs={"placeholder": "GB, DE, FR"}),
        help_text="ISO two-letter country codes, separated by commas. Empty allows any country.",
    )


def _rate_limit_field() -> forms.IntegerField:
    return forms.IntegerField(
        required=False,
        min_value=1,
        label="Rate limit (requests per hour)",
        help_text="Optional; the organisation's plan limit applies as well.",
    )


def _environment_field(actor: Membership, *, blank: bool = False) -> forms.ChoiceField:
    choices = [("test", "Test (pk_test_…)"), ("live", "Live (pk_live_…)")]
    if blank:
        choices = [("", "Any (chosen when the key is created)"), *choices]
    return forms.ChoiceField(
        choices=choices,
        required=not blank,
        widget=forms.RadioSelect,
        help_text="" if actor.has_perm("keys:live") else "Your role cannot create live keys (keys:live).",
    )


class ExpiryMixin:
    """An expiry picker: never, 30/90/365 days from now, or a custom date."""

    def _add_expiry_fields(self, *, keep_label: str | None = None) -> None:
        choices = [("never", "Never")] + [(str(d), f"In {d} days") for d in EXPIRY_DAYS] + [("custom", "On a date")]
        if keep_label:
            choices.insert(0, ("keep", keep_label))
        self.fields["expiry"] = forms.ChoiceField(
            choices=choices, initial=choices[0][0], label="Expiry", widget=forms.RadioSelect
        )
        self.fields["expires_on"] = forms.DateField(
            required=False,
            label="Expiry date",
            widget=forms.DateInput(attrs={"type": "date"}),
            help_text="Used when “On a date” is chosen; the key stops working at the end of that day.",
        )

    def clean_expiry_choice(self, cleaned: dict) -> None:
        choice = cleaned.get("expiry")
        if choice == "custom":
            day = cleaned.get("expires_on")
            if day is None:
                self.add_error("expires_on", "Pick a date.")
            elif day <= timezone.localdate():
                self.add_error("expires_on", "Pick a date after today.")

    def expires_at(self):
        """The chosen expiry: a datetime, None for never, or "keep" to leave it."""
        choice = self.cleaned_data.get("expiry")
        if choice == "keep":
            return "keep"
        if choice == "never":
            return None
        if choice == "custom":
            return end_of_day(self.cleaned_data["expires_on"])
        return timezone.now() + timedelta(days=int(choice))


class KeyFilterForm(forms.Form):
    """The list's search, filters and sort; every value lives in the query string."""

    SORTS = {
        "-created": "Newest first",
        "created": "Oldest first",
        "name": "Name A–Z",
        "-name": "Name Z–A",
        "-last_used": "Recently used",
        "expires": "Expiring soonest",
    }
    STATUSES = [
        ("", "Any status"),
        ("active", "Active"),
        ("expiring", "Expiring in 30 days"),
        ("expired", "Expired"),
        ("revoked", "Revoked"),
    ]

    q = forms.CharField(
        required=False,
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name, pk_test_… prefix or last 4"}),
    )
    environment = forms.ChoiceField(
        required=False, choices=[("", "Live and test"), ("live", "Live"), ("test", "Test")], label="Environment"
    )
    status = forms.ChoiceField(required=False, choices=STATUSES, label="Status")
    scope = forms.ChoiceField(required=False, choices=[("", "Any scope"), *SCOPE_CHOICES], label="Scope")
    sort = forms.ChoiceField(required=False, choices=list(SORTS.items()), label="Sort")


class KeyCreateForm(ScopePickerMixin, ExpiryMixin, forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    scopes = _scopes_field()
    allowed_ips = _ips_field()
    allowed_countries = _countries_field()
    rate_limit_per_hour = _rate_limit_field()

    def __init__(self, *args, actor: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.fields["environment"] = _environment_field(actor)
        self.fields["environment"].initial = "test"
        self._add_expiry_fields()
        self.order_fields(["name", "description", "environment", "scopes", "expiry", "expires_on"])

    def clean_environment(self):
        environment = self.cleaned_data["environment"]
        if environment == Environment.LIVE and not self.actor.has_perm("keys:live"):
            raise forms.ValidationError("Your role cannot create live keys (it lacks keys:live).")
        return environment

    def clean(self):
        cleaned = super().clean()
        self.clean_expiry_choice(cleaned)
        return cleaned

    @staticmethod
    def initial_from_template(template) -> dict:
        """The form pre-filled from a template; what is submitted afterwards is what counts."""
        initial = {
            "scopes": list(template.scopes),
            "allowed_ips": "\n".join(template.allowed_ips),
            "rate_limit_per_hour": template.rate_limit_per_hour,
        }
        if template.environment:
            initial["environment"] = template.environment
        if template.expires_in_days:
            if template.expires_in_days in EXPIRY_DAYS:
                initial["expiry"] = str(template.expires_in_days)
            else:
                initial["expiry"] = "custom"
                initial["expires_on"] = timezone.localdate() + timedelta(days=template.expires_in_days)
        return initial


class KeySettingsForm(ScopePickerMixin, ExpiryMixin, forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    scopes = _scopes_field()
    allowed_ips = _ips_field()
    allowed_countries = _countries_field()
    rate_limit_per_hour = _rate_limit_field()

    def __init__(self, *args, actor: Membership, key: ApiKey, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "name": key.name,
                "description": key.description,
                "scopes": list(key.scopes),
                "allowed_ips": "\n".join(key.allowed_ips),
                "allowed_countries": ", ".join(key.allowed_countries),
                "rate_limit_per_hour": key.rate_limit_per_hour,
            },
        )
        super().__init__(*args, **kwargs)
        self.actor = actor
        if key.expires_at:
            self._add_expiry_fields(keep_label=f"Keep ({timezone.localtime(key.expires_at):%d %b %Y, %H:%M})")
        else:
            self._add_expiry_fields(keep_label="Keep (never expires)")
            self.fields["expiry"].choices = [c for c in self.fields["expiry"].choices if c[0] != "never"]

    def clean(self):
        cleaned = super().clean()
        self.clean_expiry_choice(cleaned)
        return cleaned


class RotateForm(forms.Form):
    grace = forms.TypedChoiceField(
        choices=GRACE_CHOICES,
        coerce=int,
        initial="3600",
        label="Old secret keeps working for",
        help_text="Long enough to deploy the new secret everywhere the old one is used.",
    )

    @property
    def grace_delta(self) -> timedelta:
        return timedelta(seconds=self.cleaned_data["grace"])


class RevokeForm(forms.Form):
    reason = forms.CharField(max_length=200, required=False, label="Reason (optional)")


class BulkForm(ScopePickerMixin, forms.Form):
    ACTIONS = [
        ("revoke", "Revoke"),
        ("rotate", "Rotate secrets"),
        ("extend", "Set expiry"),
        ("scopes", "Replace scopes"),
    ]
    scope_field = "bulk_scopes"

    keys = forms.MultipleChoiceField(error_messages={"required": "Select at least one key."})
    action = forms.ChoiceField(choices=[("", "Choose an action…"), *ACTIONS], label="Action")
    grace = forms.TypedChoiceField(choices=GRACE_CHOICES, coerce=int, required=False, initial="3600")
    expiry_days = forms.TypedChoiceField(
        choices=[("", "Never expire")] + [(str(d), f"{d} days from now") for d in EXPIRY_DAYS],
        coerce=int,
        empty_value=None,
        required=False,
        label="New expiry",
    )
    bulk_scopes = _scopes_field(required=False)

    def __init__(self, *args, actor: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        # Any public id is accepted here; the scoped selector answers 404 for strangers.
        self.fields["keys"].choices = [(v, v) for v in (self.data.getlist("keys") if self.is_bound else [])]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") == "scopes" and not cleaned.get("bulk_scopes"):
            self.add_error("bulk_scopes", "Pick at least one scope.")
        if not cleaned.get("action"):
            self.add_error("action", "Choose an action.")
        return cleaned


class KeyTemplateForm(ScopePickerMixin, forms.Form):
    name = forms.CharField(max_length=100)
    scopes = _scopes_field()
    expires_in_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, label="Expires after (days)", help_text="Empty: never expires."
    )
    rate_limit_per_hour = _rate_limit_field()
    allowed_ips = _ips_field()

    def __init__(self, *args, actor: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.fields["environment"] = _environment_field(actor, blank=True)
        self.fields["environment"].help_text = ""
        self.order_fields(["name", "environment", "scopes"])


class KeyPolicyForm(forms.Form):
    name_pattern = forms.CharField(
        max_length=200,
        required=False,
        label="Name pattern",
        widget=forms.TextInput(attrs={"placeholder": r"(prod|staging|dev)-[a-z0-9-]+", "spellcheck": "false"}),
        help_text="A regular expression every new or renamed key name must match in full. Empty: no rule.",
    )
    name_message = forms.CharField(
        max_length=200,
        required=False,
        label="Message",
        widget=forms.TextInput(attrs={"placeholder": "Start the name with prod-, staging- or dev-."}),
        help_text="Shown next to the name when it does not match.",
    )


class OAuthApplicationForm(ScopePickerMixin, forms.Form):
    name = forms.CharField(max_length=255)
    description = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    grant_type = forms.ChoiceField(choices=GRANT_CHOICES, widget=forms.RadioSelect, label="Grant type")
    redirect_uris = forms.CharField(
        required=False,
        label="Redirect URIs",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "https://app.example.com/oauth/callback"}),
        help_text="One per line, for the authorization code grant only. https, or http://localhost in test mode.",
    )
    scopes = _scopes_field()

    def __init__(self, *args, actor: Membership, editing: bool = False, redirects: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        if not redirects:  # a client credentials application never redirects
            del self.fields["redirect_uris"]
        if editing:
            del self.fields["grant_type"]
        else:
            self.fields["environment"] = _environment_field(actor)
            self.fields["environment"].help_text = ""
            self.order_fields(["name", "description", "environment", "grant_type"])

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("grant_type") == "authorization_code" and not split_lines(cleaned.get("redirect_uris", "")):
            self.add_error("redirect_uris", "The authorization code grant needs at least one redirect URI.")
        return cleaned
