"""Forms for sign-up, sign-in, the second factor, passwords and account settings.

Forms only validate; the views hand the cleaned data to services in accounts.services.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.forms import PasswordResetForm
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.models import Organization, User
from portal.emails import absolute_url, send_templated_email


class SignupForm(forms.Form):
    full_name = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    email = forms.EmailField(
        label="Work e-mail", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters; not a common password, not only digits, not like your name or e-mail.",
    )
    password2 = forms.CharField(
        label="Confirm password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    organization_name = forms.CharField(
        label="Organisation name",
        max_length=120,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
        help_text="Your company or team. You can invite colleagues later.",
    )
    organization_kind = forms.ChoiceField(
        label="I am",
        choices=[
            (Organization.Kind.DEVELOPER, "A developer building on the APIs"),
            (Organization.Kind.PARTNER, "A partner publishing integrations"),
        ],
        initial=Organization.Kind.DEVELOPER,
        required=False,
        widget=forms.RadioSelect,
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, joining: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.joining = joining
        if joining:
            # Joining an organisation by invitation: the invitation names the organisation.
            del self.fields["organization_name"]
            del self.fields["organization_kind"]

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"]).strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError("An account with this e-mail address already exists. Log in or reset your password.")
        return email

    def clean_organization_name(self) -> str:
        name = self.cleaned_data.get("organization_name", "").strip()
        if not self.joining and not name:
            raise ValidationError("Name your organisation.")
        return name

    def clean_organization_kind(self) -> str:
        return self.cleaned_data.get("organization_kind") or Organization.Kind.DEVELOPER

    def clean(self):
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords do not match.")
        if password1:
            candidate = User(email=cleaned.get("email", ""), full_name=cleaned.get("full_name", ""))
            try:
                password_validation.validate_password(password1, user=candidate)
            except ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class LoginForm(forms.Form):
    email = forms.EmailField(label="E-mail", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    error_message = "That e-mail and password do not match an account."

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        self.user: User | None = None

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()

    def clean(self):
        cleaned = super().clean()
        email, password = cleaned.get("email"), cleaned.get("password")
        if email and password:
            self.user = authenticate(self.request, email=email, password=password)
            if self.user is None:
                # One message for unknown address, wrong password and disabled account.
                raise ValidationError(self.error_message, code="invalid_login")
        return cleaned


class SecondFactorForm(forms.Form):
    code = forms.CharField(
        label="Verification code",
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autocapitalize": "off", "autofocus": True}
        ),
        help_text="The 6-digit code from your authenticator app or from the e-mail we sent, or a recovery code.",
    )


class TOTPConfirmForm(forms.Form):
    code = forms.CharField(
        label="Code from your app",
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*"}),
    )


class PasswordConfirmForm(forms.Form):
    """Re-enter the current password before a sensitive change."""

    password = forms.CharField(
        label="Current password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise ValidationError("That is not your current password.")
        return password


class ProfileForm(forms.Form):
    full_name = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"}))


class PortalPasswordResetForm(PasswordResetForm):
    """Django's reset form (it never reveals whether the address exists) with our e-mail."""

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        path = reverse("accounts:password_reset_confirm", args=[context["uid"], context["token"]])
        send_templated_email(
            to=to_email,
            template="password_reset",
            context={
                "user": context["user"],
                "reset_url": absolute_url(path),
                "valid_hours": settings.PASSWORD_RESET_TIMEOUT // 3600,
            },
        )
