"""Install pages: the install consent (an OAuth authorization page), the organisation's
installed integrations with uninstall, and a partner's installs.

The consent is django-oauth-toolkit's authorization endpoint with the marketplace's
page and one extra step: the member picks the organisation and environment to install
in, and the install (a delegated grant) is created in the same transaction as the
authorization code, so a refused request leaves nothing behind. The OAuth parts (client,
redirect URI, PKCE, the code) stay DOT's and the validator's (apikeys.oauth).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from oauth2_provider import views as dot_views
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.forms import AllowForm
from oauth2_provider.models import get_application_model

from accounts.decorators import org_permission_required
from accounts.permissions import BY_CODE
from accounts.services import RequestMeta
from apikeys.models import Environment
from apikeys.oauth import allow_consent_redirect
from apikeys.views import _membership
from marketplace import selectors, services
from marketplace.models import Installation
from portal.pages import apply_service_errors as _apply_errors

ENVIRONMENT_CHOICES = [
    (Environment.TEST, "Test: sandbox data only"),
    (Environment.LIVE, "Live: your real data"),
]


def scopes_in_words(codes: list[str]) -> list[dict]:
    """Each scope code with its catalogue description, in the catalogue's groups."""
    rows = []
    for code in codes:
        permission = BY_CODE.get(code)
        rows.append(
            {
                "code": code,
                "description": permission.description if permission else code,
                "group": permission.group if permission else "Other",
            }
        )
    return rows


class InstallConsentForm(AllowForm):
    organization = forms.ChoiceField(label="Install in", required=False)
    environment = forms.ChoiceField(
        label="Environment",
        choices=ENVIRONMENT_CHOICES,
        initial=Environment.TEST,
        required=False,
        widget=forms.RadioSelect,
        help_text="Test installs see sandbox data only. You can install in both, one at a time.",
    )

    def __init__(self, *args, memberships=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].choices = [(m.organization.public_id, m.organization.name) for m in memberships]


@method_decorator(never_cache, name="dispatch")
class InstallConsentView(dot_views.AuthorizationView):
    """/marketplace/install/authorize: /oauth/authorize sends an integration's requests here."""

    template_name = "marketplace/install_consent.html"
    form_class = InstallConsentForm

    # ---- helpers -------------------------------------------------------------------------

    def _memberships(self):
        if not hasattr(self, "_install_memberships"):
            self._install_memberships = selectors.install_memberships(user=self.request.user)
        return self._install_memberships

    def _application(self):
        client_id = self.request.POST.get("client_id") or self.request.GET.get("client_id")
        if not client_id:
            return None
        return get_application_model().objects.filter(client_id=client_id).first()

    def _unavailable(self):
        return render(
            self.request,
            self.template_name,
            {"unavailable": True},
            status=404,
        )

    def get_form(self, form_class=None):
        form_class = form_class or self.get_form_class()
        return form_class(memberships=self._memberships(), **self.get_form_kwargs())

    def get_initial(self):
        initial = super().get_initial()
        current = getattr(self.request, "membership", None)
        choices = [m.organization.public_id for m in self._memberships()]
        if current and current.organization.public_id in choices:
            initial["organization"] = current.organization.public_id
        elif choices:
            initial["organization"] = choices[0]
        initial["environment"] = Environment.TEST
        return initial

    def redirect(self, redirect_to, application):
        # As apikeys' consent: an error found while validating the GET comes without the
        # application, and a test-mode application's loopback http URI needs its schemes.
        return super().redirect(redirect_to, application or self._application())

    def consent_context(self, *, application, scopes: list[str], redirect_uri: str) -> dict:
        integration = selectors.integration_for_application(application=application)
        organizations = []
        for membership in self._memberships():
            problems = services.install_scope_problems(integration=integration, membership=membership, scopes=scopes)
            organizations.append({"membership": membership, "problems": problems})
        return {
            "integration": integration,
            "logo_url": selectors.integration_logo_url(integration=integration),
            "application": application,
            "scope_rows": scopes_in_words(scopes),
            "organizations": organizations,
            "can_install_somewhere": any(not row["problems"] for row in organizations),
            "redirect_uri": redirect_uri,
            "redirect_host": urlsplit(redirect_uri).netloc if redirect_uri else "",
        }

    def render_to_response(self, context, **response_kwargs):
        response = super().render_to_response(context, **response_kwargs)
        if context.get("error"):
            return response
        # The approval is answered by a redirect to the partner's site (another origin).
        return allow_consent_redirect(response, context.get("application"), context.get("redirect_uri", ""))

    # ---- GET -----------------------------------------------------------------------------

    def get(self, request, *args, **kwargs):
        application = self._application()
        if application is not None:
            integration = selectors.integration_for_application(application=application)
            if integration is None:
                # An ordinary application: its consent is apikeys' own page.
                return HttpResponseRedirect(reverse("oauth2_provider:authorize") + "?" + request.GET.urlencode())
            if not integration.is_published:
                return self._unavailable()
        if "approval_prompt" in request.GET:
            request.GET = request.GET.copy()
            del request.GET["approval_prompt"]  # always ask: an install is never silent
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        application = context.get("application")
        if application is None or "form" not in context or context.get("error"):
            return context
        context.update(
            self.consent_context(
                application=application,
                scopes=list(context.get("scopes") or []),
                redirect_uri=context.get("redirect_uri", ""),
            )
        )
        return context

    # ---- POST ----------------------------------------------------------------------------

    def form_invalid(self, form):
        application = self._application()
        if application is None or selectors.integration_for_application(application=application) is None:
            return self._unavailable()
        context = self.get_context_data(form=form)
        context.update(
            self.consent_context(
                application=application,
                scopes=(form.data.get("scope") or "").split(),
                redirect_uri=form.data.get("redirect_uri", ""),
            )
        )
        return self.render_to_response(context, status=400)

    def form_valid(self, form):
        data = form.cleaned_data
        application = get_application_model().objects.filter(client_id=data["client_id"]).first()
        integration = selectors.integration_for_application(application=application) if application else None
        if integration is None or not integration.is_published:
            return self._unavailable()
        credentials = {
            "client_id": data["client_id"],
            "redirect_uri": data["redirect_uri"],
            "response_type": data.get("response_type"),
            "state": data.get("state"),
        }
        for name in ("code_challenge", "code_challenge_method"):
            if data.get(name):
                credentials[name] = data[name]
        scopes = data["scope"]
        if not data.get("allow"):
            try:  # raises access_denied, which redirects to the client
                self.create_authorization_response(
                    request=self.request, scopes=scopes, credentials=credentials, allow=False
                )
            except OAuthToolkitError as error:
                return self.error_response(error, application)
        membership = next(
            (m for m in self._memberships() if m.organization.public_id == data.get("organization")), None
        )
        if membership is None:
            form.add_error("organization", "Choose an organisation where you may install integrations.")
            return self.form_invalid(form)
        try:
            with transaction.atomic():
                installation = services.installation_create(
                    integration=integration,
                    actor=membership,
                    environment=data.get("environment") or "",
                    scopes=scopes.split(),
                    meta=RequestMeta.from_request(self.request),
                )
                # oauthlib copies credentials onto its request: the validator checks the
                # member against the installing organisation and records the code.
                credentials["delegated_grant_id"] = installation.grant_id
                uri, _headers, _body, _status = self.create_authorization_response(
                    request=self.request, scopes=scopes, credentials=credentials, allow=True
                )
        except ValidationError as error:
            _apply_errors(form, error)
            if form.errors.get("scopes"):
                for message in form.errors.pop("scopes"):
                    form.add_error(None, message)
            return self.form_invalid(form)
        except PermissionDenied as error:
            form.add_error("organization", str(error))
            return self.form_invalid(form)
        except OAuthToolkitError as error:
            return self.error_response(error, application)
        return self.redirect(uri, application)


install_authorize = InstallConsentView.as_view()


# ---- the installing organisation -------------------------------------------------------


@org_permission_required("installs:read")
@require_GET
def installed(request):
    membership = _membership(request)
    installations = list(
        selectors.installation_list_for_organization(
            organization_id=membership.organization_id, status=Installation.Status.ACTIVE
        )
    )
    rows = [{"installation": i, "scopes": scopes_in_words(i.scopes)} for i in installations]
    context = {"rows": rows, "can_manage": membership.has_perm("installs:manage")}
    return render(request, "marketplace/installed.html", context)


@org_permission_required("installs:manage")
@require_POST
def uninstall(request, public_id: str):
    membership = _membership(request)
    installation = selectors.installation_get(organization_id=membership.organization_id, public_id=public_id)
    try:
        services.installation_uninstall(
            installation=installation, actor=membership, meta=RequestMeta.from_request(request)
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            f"{installation.integration.name} is uninstalled; every token it held for "
            f"{membership.organization.name} ({installation.get_environment_display()}) stopped working.",
        )
    return redirect("marketplace:installed")


# ---- the partner -----------------------------------------------------------------------

PARTNER_PAGE_SIZE = 50


@org_permission_required("integrations:read")
@require_GET
def partner_installs(request):
    membership = _membership(request)
    installations = selectors.installation_list_for_partner(organization=membership.organization)
    page = Paginator(installations, PARTNER_PAGE_SIZE).get_page(request.GET.get("page"))
    has_integrations = selectors.integration_list_for_organization(organization=membership.organization).exists()
    return render(request, "marketplace/partner_installs.html", {"page": page, "has_integrations": has_integrations})
