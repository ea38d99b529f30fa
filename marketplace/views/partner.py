"""Marketplace pages for partners (their integrations: list, editor with preview, submission
status) and the staff review queue.

Public pages are open to everyone and show published integrations only; a partner's
members also preview their own unpublished listing. Changes go through
marketplace.services; reads through marketplace.selectors.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import org_permission_required
from accounts.models import Membership
from accounts.permissions import BY_CODE
from accounts.services import RequestMeta
from apikeys.views import _apply_errors, _membership, _no_store, _problems_as_403
from marketplace import selectors, services
from marketplace.forms import IntegrationForm, ReviewForm, SearchForm
from marketplace.markdown import render_markdown
from marketplace.models import Integration

PAGE_SIZE = 12
HOME_NEWEST = 6


def _viewer(request) -> Membership | None:
    if not request.user.is_authenticated or not request.membership:
        return None
    return _membership(request)


def _staff_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied("Only staff review integrations.")
        return view(request, *args, **kwargs)

    return wrapper


def _query_without_page(request) -> str:
    return urlencode([(k, v) for k, v in request.GET.items() if k != "page" and v])


def _scopes_explained(integration: Integration) -> list[dict]:
    return [
        {"code": code, "description": BY_CODE[code].description if code in BY_CODE else "", "group": ""}
        for code in integration.scopes
    ]


def _listing(request, *, category=None, template: str, extra: dict):
    categories = list(selectors.category_list_with_counts())
    form = SearchForm(request.GET or None, categories=categories, with_category=category is None)
    data = form.cleaned_data if form.is_valid() else {}
    chosen = category
    if category is None and data.get("category"):
        chosen = next((c for c in categories if c.slug == data["category"]), None)
    integrations = selectors.integration_list_published(
        query=data.get("q") or "", category=chosen, pricing=data.get("pricing") or "", sort=data.get("sort") or ""
    )
    page = Paginator(integrations, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page": page,
        "categories": categories,
        "category": category,
        "query": _query_without_page(request),
        "q": data.get("q") or "",
        "filtered": any(data.get(k) for k in ("q", "category", "pricing", "sort")),
        **extra,
    }
    return render(request, template, context)


# ---- partner pages -----------------------------------------------------------------------


@org_permission_required("integrations:read")
@require_GET
def my_integrations(request):
    membership = _membership(request)
    organization = membership.organization
    context = {
        "integrations": list(selectors.integration_list_for_organization(organization=organization)),
        "blockers": services.partner_blockers(organization),
        "can_manage": membership.has_perm("integrations:manage"),
    }
    return render(request, "marketplace/my_integrations.html", context)


def _editor(request, *, integration: Integration | None):
    membership = _membership(request)
    blockers = services.partner_blockers(membership.organization)
    form = IntegrationForm(request.POST or None, actor=membership, integration=integration)
    preview = None
    if integration is not None:
        preview = render_markdown(integration.description)
    locked = integration is not None and not integration.is_editable
    if request.method == "POST":
        preview = render_markdown(request.POST.get("description", ""))
        if "preview" not in request.POST and not blockers and not locked and form.is_valid():
            meta = RequestMeta.from_request(request)
            try:
                if integration is None:
                    created, secret = services.integration_create(
                        actor=membership,
                        environment=form.cleaned_data["environment"],
                        redirect_uris=form.redirect_uri_list(),
                        meta=meta,
                        **form.service_kwargs(),
                    )
                    messages.success(request, f"“{created.name}” is saved as a draft.")
                    response = render(
                        request,
                        "marketplace/integration_created.html",
                        {"integration": created, "application": created.oauth_application, "secret": secret},
                    )
                    return _no_store(response)
                services.integration_update(
                    integration=integration,
                    actor=membership,
                    redirect_uris=form.redirect_uri_list(),
                    meta=meta,
                    **form.service_kwargs(),
                )
                messages.success(request, "Changes saved.")
                return redirect("marketplace:status", integration.public_id)
            except ValidationError as error:
                _apply_errors(form, error, {"price_minor": "price"})
    context = {
        "form": form,
        "integration": integration,
        "blockers": blockers,
        "locked": locked,
        "preview": preview,
    }
    return render(request, "marketplace/editor.html", context)


@org_permission_required("integrations:manage")
@require_http_methods(["GET", "POST"])
@_problems_as_403
def integration_create(request):
    return _editor(request, integration=None)


@org_permission_required("integrations:manage")
@require_http_methods(["GET", "POST"])
@_problems_as_403
def integration_edit(request, public_id: str):
    integration = selectors.integration_get_for_actor(actor=_membership(request), public_id=public_id, write=True)
    return _editor(request, integration=integration)


@org_permission_required("integrations:read")
@require_GET
def integration_status(request, public_id: str):
    membership = _membership(request)
    integration = selectors.integration_get_for_actor(actor=membership, public_id=public_id)
    context = {
        "integration": integration,
        "can_manage": membership.has_perm("integrations:manage"),
        "blockers": services.partner_blockers(membership.organization),
        "versions": list(integration.versions.all()),
    }
    return render(request, "marketplace/status.html", context)


@org_permission_required("integrations:manage")
@require_POST
def integration_submit(request, public_id: str):
    membership = _membership(request)
    integration = selectors.integration_get_for_actor(actor=membership, public_id=public_id, write=True)
    try:
        services.integration_submit(integration=integration, actor=membership, meta=RequestMeta.from_request(request))
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, "Submitted for review. We'll e-mail your owners and admins with the decision.")
    return redirect("marketplace:status", integration.public_id)


@org_permission_required("integrations:manage")
@require_POST
def integration_unpublish(request, public_id: str):
    membership = _membership(request)
    integration = selectors.integration_get_for_actor(actor=membership, public_id=public_id, write=True)
    try:
        services.integration_unpublish(
            integration=integration, actor=membership, meta=RequestMeta.from_request(request)
        )
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, "Unpublished. The listing is hidden from the marketplace.")
    return redirect("marketplace:status", integration.public_id)


# ---- staff review ------------------------------------------------------------------------


@_staff_required
@require_GET
def review_queue(request):
    page = Paginator(selectors.integration_review_queue(), 25).get_page(request.GET.get("page"))
    return render(request, "marketplace/review_queue.html", {"page": page, "query": ""})


@_staff_required
@require_http_methods(["GET", "POST"])
def review(request, public_id: str):
    integration = selectors.integration_get_for_review(public_id=public_id)
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        decision = form.cleaned_data["decision"]
        try:
            services.integration_review(
                integration=integration,
                reviewer=request.user,
                decision=decision,
                notes=form.cleaned_data["notes"],
                meta=RequestMeta.from_request(request),
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            verb = "published" if decision == "publish" else "rejected"
            messages.success(request, f"“{integration.name}” {verb}; the partner has been e-mailed.")
            return redirect("marketplace:review_queue")
    context = {
        "integration": integration,
        "form": form,
        "description_html": render_markdown(integration.description),
        "scopes": _scopes_explained(integration),
    }
    return render(request, "marketplace/review.html", context)
