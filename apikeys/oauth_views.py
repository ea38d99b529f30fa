"""The OAuth 2.0 endpoints under /oauth/: django-oauth-toolkit's views with our policy.

Errors here follow OAuth's own format (RFC 6749 section 5.2 JSON, or a redirect with
`error=`), not RFC 9457 problems: OAuth clients parse these.
"""

from __future__ import annotations

import calendar
import hashlib

from django.http import HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider import views as dot_views
from oauth2_provider.models import get_access_token_model, get_application_model
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauthlib.common import Request as OAuthlibRequest

from accounts.permissions import BY_CODE
from apikeys.models import DelegatedGrantCredential
from apikeys.oauth import allow_consent_redirect, is_delegation_only, member_permissions


class AuthorizeView(dot_views.AuthorizationView):
    """The consent page: which application, for which organisation and environment, and
    each requested scope in plain words. A member can approve only scopes they hold
    (shown here; enforced again by the validator when the form is posted)."""

    template_name = "oauth2_provider/authorize.html"

    def get(self, request, *args, **kwargs):
        consent = delegated_consent_url(request)
        if consent:
            return HttpResponseRedirect(consent)
        if "approval_prompt" in request.GET:
            # DOT lets the client ask to skip consent when an earlier token covers the
            # scopes ("auto"); we always ask the member.
            request.GET = request.GET.copy()
            del request.GET["approval_prompt"]
        return super().get(request, *args, **kwargs)

    def redirect(self, redirect_to, application):
        # DOT redirects errors found while validating a GET without the application, so
        # with the global https-only schemes; a test-mode application's registered
        # loopback http URI (already matched by oauthlib, or the error would be fatal
        # and rendered instead) needs the application's own schemes.
        if application is None:
            client_id = self.request.GET.get("client_id") or self.request.POST.get("client_id")
            application = get_application_model().objects.filter(client_id=client_id).first() if client_id else None
        return super().redirect(redirect_to, application)

    def render_to_response(self, context, **response_kwargs):
        response = super().render_to_response(context, **response_kwargs)
        if context.get("error"):
            return response
        return allow_consent_redirect(response, context.get("application"), context.get("redirect_uri", ""))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        application = context.get("application")
        if application is None or "form" not in context or context.get("error"):
            return context
        held = member_permissions(self.request.user, application.organization_id)
        scopes = context.get("scopes") or []
        groups: dict[str, list[dict]] = {}
        for code in scopes:
            permission = BY_CODE.get(code)
            groups.setdefault(permission.group if permission else "Other", []).append(
                {
                    "code": code,
                    "description": permission.description if permission else code,
                    "held": held is not None and code in held,
                }
            )
        missing = [code for code in scopes if held is None or code not in held]
        context.update(
            organization=application.organization,
            environment=application.environment,
            scope_groups=groups,
            not_member=held is None,
            missing_scopes=missing,
            can_approve=bool(scopes) and not missing,
            redirect_host=_host(context.get("redirect_uri", "")),
        )
        return context


def delegated_consent_url(request) -> str:
    """Where an integration's application is authorised instead: the marketplace's install
    consent (organisation, environment, price), with the query kept as it came."""
    client_id = request.GET.get("client_id")
    if not client_id:
        return ""
    application = get_application_model().objects.filter(client_id=client_id).first()
    if application is None or not is_delegation_only(application):
        return ""
    # By URL name, so apikeys does not import the marketplace.
    return reverse("marketplace:install_authorize") + "?" + request.GET.urlencode()


def _host(uri: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(uri).netloc if uri else ""


@method_decorator([csrf_exempt, never_cache], name="dispatch")
class IntrospectView(View):
    """RFC 7662 token introspection, for clients (HTTP Basic or client_id/client_secret in
    the body). A client learns only about its own tokens: any other token, like an
    unknown one, answers `{"active": false}`."""

    http_method_names = ["post"]

    def post(self, request):
        core = get_oauthlib_core()
        uri, http_method, body, headers = core._extract_params(request)
        oauth_request = OAuthlibRequest(uri, http_method, body, headers)
        if not core.server.request_validator.authenticate_client(oauth_request):
            response = JsonResponse(
                {"error": "invalid_client", "error_description": "Client authentication failed."}, status=401
            )
            response["WWW-Authenticate"] = 'Basic realm="oauth"'
            return response
        token_value = request.POST.get("token")
        if not token_value:
            return JsonResponse(
                {"error": "invalid_request", "error_description": "The token parameter is missing."}, status=400
            )
        client = oauth_request.client
        token = (
            get_access_token_model()
            .objects.select_related("user", "application__organization")
            .filter(token_checksum=hashlib.sha256(token_value.encode()).hexdigest(), application=client)
            .first()
        )
        if token is None or not token.is_valid():
            return JsonResponse({"active": False})
        organization, livemode = client.organization, client.livemode
        credential = (
            DelegatedGrantCredential.objects.select_related("grant__organization")
            .filter(checksum=token.token_checksum, kind=DelegatedGrantCredential.Kind.ACCESS)
            .first()
        )
        if credential is not None:
            if not credential.grant.is_active:
                return JsonResponse({"active": False})
            # A marketplace install's token acts for the organisation that installed it.
            organization, livemode = credential.grant.organization, credential.grant.livemode
        data = {
            "active": True,
            "scope": token.scope,
            "client_id": client.client_id,
            "token_type": "Bearer",
            "exp": int(calendar.timegm(token.expires.utctimetuple())),
            "iat": int(calendar.timegm(token.created.utctimetuple())),
            "organization": organization.public_id,
            "livemode": livemode,
        }
        if token.user is not None:
            data["username"] = token.user.get_username()
            data["sub"] = token.user.public_id
        return JsonResponse(data)


app_name = "oauth2_provider"  # DOT reverses its own endpoint names in this namespace

urlpatterns = [
    path("oauth/authorize", AuthorizeView.as_view(), name="authorize"),
    path("oauth/token", dot_views.TokenView.as_view(), name="token"),
    path("oauth/revoke", dot_views.RevokeTokenView.as_view(), name="revoke-token"),
    path("oauth/introspect", IntrospectView.as_view(), name="introspect"),
    # RFC 8414 metadata; also what DOT derives the RFC 9207 `iss` response parameter from.
    path(
        ".well-known/oauth-authorization-server",
        dot_views.OAuthServerMetadataView.as_view(),
        name="oauth-server-metadata",
    ),
]
