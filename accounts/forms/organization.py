"""Forms for the organisation pages: they validate input; services decide and write."""

from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator

from accounts import permissions as catalogue
from accounts.models import Membership, Organization, Role, RoleName
from accounts.selectors import role_list
from accounts.services import role_permissions

CUSTOM_PREFIX = "custom:"


def role_choices(*, actor: Membership, include: Membership | None = None) -> list[tuple[str, str]]:
    """The roles `actor` may hand out: built-in ones first, then the organisation's custom roles.

    `include` keeps a member's current role listed (so the select shows it) even when
    the actor could not grant it; the service still refuses to set it.
    """
    choices: list[tuple[str, str]] = []
    for value, label in RoleName.choices:
        if value == RoleName.CUSTOM:
            continue
        if value == RoleName.OWNER and not actor.is_owner:
            continue
        if role_permissions(role=value, custom_role=None) <= actor.permissions:
            choices.append((value, label))
    for role in role_list(organization=actor.organization):
        if frozenset(role.permissions) <= actor.permissions:
            choices.append((f"{CUSTOM_PREFIX}{role.public_id}", f"{role.name} (custom)"))
    if include is not None:
        current = role_choice_value(include)
        if current not in dict(choices):
            choices.insert(0, (current, include.role_label))
    return choices


def role_choice_value(membership: Membership) -> str:
    if membership.role == RoleName.CUSTOM and membership.custom_role_id:
        return f"{CUSTOM_PREFIX}{membership.custom_role.public_id}"
    return membership.role


def parse_role_choice(value: str, *, organization: Organization) -> tuple[str, Role | None]:
    if value.startswith(CUSTOM_PREFIX):
        role = role_list(organization=organization).filter(public_id=value.removeprefix(CUSTOM_PREFIX)).first()
        if role is None:
            raise forms.ValidationError("Unknown role.")
        return RoleName.CUSTOM, role
    if value not in RoleName.values or value == RoleName.CUSTOM:
        raise forms.ValidationError("Unknown role.")
    return value, None


class RoleChoiceMixin:
    """Turns the `role` field into (role, custom_role) for the services."""

    def clean_role(self):
        value = self.cleaned_data["role"]
        self.role_name, self.custom_role = parse_role_choice(value, organization=self.organization)
        return value


class OrganizationCreateForm(forms.Form):
    name = forms.CharField(max_length=120, label="Organisation name")
    kind = forms.ChoiceField(
        choices=Organization.Kind.choices,
        initial=Organization.Kind.DEVELOPER,
        widget=forms.RadioSelect,
        label="Kind",
        help_text="Partners publish integrations in the marketplace and go through verification.",
    )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the organisation a name.")
        return name


class OrganizationSettingsForm(forms.Form):
    name = forms.CharField(max_length=120, label="Organisation name")
    website = forms.URLField(required=False, assume_scheme="https")


class SecurityPolicyForm(forms.Form):
    require_2fa = forms.BooleanField(
        required=False,
        label="Require two-factor authentication for every member",
        help_text="Members without a second factor are asked to set one up before they can use the organisation.",
    )


class MemberRoleForm(RoleChoiceMixin, forms.Form):
    role = forms.ChoiceField()

    def __init__(self, *args, actor: Membership, member: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization = actor.organization
        self.fields["role"].choices = role_choices(actor=actor, include=member)
        self.fields["role"].initial = role_choice_value(member)


class InvitationForm(RoleChoiceMixin, forms.Form):
    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(initial=RoleName.DEVELOPER)

    def __init__(self, *args, actor: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization = actor.organization
        self.fields["role"].choices = role_choices(actor=actor)


class RoleForm(forms.Form):
    name = forms.CharField(max_length=60)
    description = forms.CharField(max_length=200, required=False)
    permissions = forms.MultipleChoiceField(
        choices=[(p.code, p.code) for p in catalogue.CATALOGUE],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "%(value)s is not a permission in the catalogue."},
    )

    def __init__(self, *args, actor: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor

    def clean_permissions(self):
        codes = self.cleaned_data["permissions"]
        missing = sorted(set(codes) - self.actor.permissions)
        if missing:
            raise forms.ValidationError(
                "You can't grant permissions your own role does not include: %(codes)s.",
                params={"codes": ", ".join(missing)},
            )
        return codes

    def grouped(self) -> list[tuple[str, list[dict]]]:
        """The checkboxes by catalogue group, with whether each is ticked and grantable."""
        if self.is_bound:
            selected = set(self.data.getlist("permissions"))
        else:
            selected = set(self.initial.get("permissions") or [])
        return [
            (
                group,
                [
                    {
                        "code": p.code,
                        "description": p.description,
                        "checked": p.code in selected,
                        "grantable": p.code in self.actor.permissions,
                    }
                    for p in perms
                ],
            )
            for group, perms in catalogue.grouped().items()
        ]


class OwnershipTransferForm(forms.Form):
    new_owner = forms.ChoiceField(label="New owner")
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        label="Your password",
        help_text="Confirm it is you: handing over an organisation can't be undone by you.",
    )

    def __init__(self, *args, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_owner"].choices = [("", "Choose a member")] + [
            (m.public_id, f"{m.user.get_full_name()} <{m.user.email}> · {m.role_label}") for m in candidates
        ]


class PartnerProfileForm(forms.Form):
    """All fields optional: a partner fills the profile in over time and submits when complete."""

    legal_name = forms.CharField(max_length=200, required=False, label="Legal name")
    registration_number = forms.CharField(max_length=60, required=False, label="Company registration number")
    country = forms.CharField(
        max_length=2,
        required=False,
        help_text="Two-letter ISO 3166-1 code, for example DE or GB.",
        validators=[RegexValidator(r"^[A-Za-z]{2}$", "Use the two-letter ISO 3166-1 code, for example DE.")],
    )
    website = forms.URLField(required=False, assume_scheme="https")
    address = forms.CharField(required=False, label="Registered address", widget=forms.Textarea(attrs={"rows": 3}))
    contact_name = forms.CharField(max_length=120, required=False, label="Contact name")
    contact_email = forms.EmailField(required=False, label="Contact e-mail")
    contact_phone = forms.CharField(
        max_length=40,
        required=False,
        label="Contact phone",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
        validators=[RegexValidator(r"^\+?[0-9 ()./-]{5,40}$", "Enter a phone number, for example +49 30 1234567.")],
    )

    def clean_country(self):
        return self.cleaned_data["country"].upper()


class AuditLogFilterForm(forms.Form):
    action = forms.ChoiceField(required=False)
    actor = forms.CharField(required=False, max_length=254, label="Actor e-mail")

    def __init__(self, *args, actions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "All actions")] + [(a, a) for a in actions]
