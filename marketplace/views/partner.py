"""Marketplace pages for partners (their integrations: list, editor with preview, submission
status) and the staff review queue.

Public pages are open to everyone and show published integrations only; a partner's
members also preview their own unpublished listing. Changes go through
marketplace.services; reads through marketplace.selectors.
"""

from __future__ import annotations

import copy

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import prefetch_related_objects
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import org_permission_required, staff_required
from accounts.models import Membership
from accounts.permissions import BY_CODE
from accounts.services import RequestMeta
from apikeys.views import _membership, _no_store, _problems_as_403
from marketplace import selectors, services
from marketplace.forms import IntegrationForm, IntegrationImageForm, ReviewForm
from marketplace.markdown import render_markdown
from marketplace.models import Integration, IntegrationImage
from marketplace.selectors.media import integration_image_get_for_actor, integration_logo, integration_screenshots
from marketplace.services import media as media_services
from portal.pages import apply_service_errors as _apply_errors
from portal.pages import flash_service_errors, form_status

_staff_required = staff_required("Only staff review integrations.")


def _scopes_explained(integration: Integration) -> list[dict]:
    return [
        {"code": code, "description": BY_CODE[code].description if code in BY_CODE else "", "group": ""}
        for code in integration.scopes
    ]


# ---- partner pages -----------------------------------------------------------------------


@org_permission_required("integrations:read")
@require_GET
def my_integrations(request):
    membership = _membership(request)
    organization = membership.organization
    integrations = list(selectors.integration_list_for_organization(organization=organization))
    prefetch_related_objects(integrations, "images")  # the logos, in one query
    context = {
        "integrations": integrations,
        "blockers": services.partner_blockers(organization),
        "can_manage": membership.has_perm("integrations:manage"),
    }
    return render(request, "marketplace/my_integrations.html", context)


PREVIEW_FIELDS = (
    "name",
    "tagline",
    "description",
    "category",
    "website_url",
    "docs_url",
    "support_url",
    "install_url",
    "pricing_model",
    "currency",
    "version",
)


def _preview_integration(
    form: IntegrationForm, *, integration: Integration | None, membership: Membership
) -> Integration | None:
    """An unsaved copy of the listing as the form would make it, for the card preview.

    Fields that don't validate keep their saved values; nothing here is ever saved.
    """
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    preview = copy.copy(integration) if integration is not None else Integration(organization=membership.organization)
    for field in PREVIEW_FIELDS:
        if data.get(field) not in (None, ""):
            setattr(preview, field, data[field])
    if data.get("pricing_model") and "price_minor" in data:
        preview.price_minor = data["price_minor"]
        preview.free_tier_calls = data.get("free_tier_calls") or 0
    preview.slug = slugify(data.get("slug") or preview.name or "")[:80] or preview.slug
    if not (preview.name and preview.slug and preview.category_id):
        return None
    return preview


def _image_forms(bound: IntegrationImageForm | None = None) -> dict[str, IntegrationImageForm]:
    forms = {
        kind: IntegrationImageForm(kind=kind) for kind in (IntegrationImage.Kind.LOGO, IntegrationImage.Kind.SCREENSHOT)
    }
    if bound is not None:
        forms[bound.kind] = bound
    return forms


def _render_editor(
    request,
    *,
    membership: Membership,
    integration: Integration | None,
    form: IntegrationForm,
    preview_html=None,
    preview_card: Integration | None = None,
    image_form: IntegrationImageForm | None = None,
):
    forms = _image_forms(image_form)
    screenshots = integration_screenshots(integration)
    logo = integration_logo(integration)
    if preview_card is not None:
        # The catalogue's card reads `logo_url` (its list pages set it from a prefetch).
        preview_card.logo_url = reverse("marketplace:image", args=[logo.public_id]) if logo else ""
    context = {
        "form": form,
        "integration": integration,
        "blockers": services.partner_blockers(membership.organization),
        "locked": integration is not None and not integration.is_editable,
        "preview": preview_html,
        "preview_card": preview_card,
        "logo": logo,
        "screenshots": screenshots,
        "logo_form": forms[IntegrationImage.Kind.LOGO],
        "screenshot_form": forms[IntegrationImage.Kind.SCREENSHOT],
        "screenshots_full": len(screenshots) >= IntegrationImage.MAX_SCREENSHOTS,
        "max_screenshots": IntegrationImage.MAX_SCREENSHOTS,
    }
    return render(request, "marketplace/editor.html", context, status=form_status(form, *forms.values()))


def _editor(request, *, integration: Integration | None):
    membership = _membership(request)
    blockers = services.partner_blockers(membership.organization)
    form = IntegrationForm(request.POST or None, actor=membership, integration=integration)
    locked = integration is not None and not integration.is_editable
    preview_html = render_markdown(integration.description) if integration is not None else None
    preview_card = integration
    if request.method == "POST":
        # Exactly what the detail page renders; the preview itself never saves anything.
        preview_html = render_markdown(request.POST.get("description", ""))
        preview_card = _preview_integration(form, integration=integration, membership=membership)
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
    return _render_editor(
        request,
        membership=membership,
        integration=integration,
        form=form,
        preview_html=preview_html,
        preview_card=preview_card,
    )


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


def _images_url(integration: Integration) -> str:
    return reverse("marketplace:edit", args=[integration.public_id]) + "#images"


@org_permission_required("integrations:manage")
@require_POST
@_problems_as_403
def integration_image_add(request, public_id: str):
    membership = _membership(request)
    integration = selectors.integration_get_for_actor(actor=membership, public_id=public_id, write=True)
    kind = request.POST.get("kind")
    if kind not in IntegrationImage.Kind.values:
        kind = IntegrationImage.Kind.SCREENSHOT
    form = IntegrationImageForm(request.POST, request.FILES, kind=kind)
    if form.is_valid():
        try:
            media_services.integration_image_add(
                integration=integration,
                actor=membership,
                kind=kind,
                upload=form.cleaned_data["file"],
                caption=form.cleaned_data.get("caption") or "",
                meta=RequestMeta.from_request(request),
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, "Logo saved." if kind == IntegrationImage.Kind.LOGO else "Screenshot added.")
            return redirect(_images_url(integration))
    return _render_editor(
        request,
        membership=membership,
        integration=integration,
        form=IntegrationForm(actor=membership, integration=integration),
        preview_html=render_markdown(integration.description),
        preview_card=integration,
        image_form=form,
    )


@org_permission_required("integrations:manage")
@require_POST
@_problems_as_403
def integration_image_remove(request, public_id: str, image_id: str):
    membership = _membership(request)
    integration = selectors.integration_get_for_actor(actor=membership, public_id=public_id, write=True)
    image = integration_image_get_for_actor(actor=membership, integration=integration, public_id=image_id)
    try:
        media_services.integration_image_remove(image=image, actor=membership, meta=RequestMeta.from_request(request))
    except ValidationError as error:
        flash_service_errors(request, error)
    else:
        what = "Logo" if image.kind == IntegrationImage.Kind.LOGO else "Screenshot"
        messages.success(request, f"{what} removed.")
    return redirect(_images_url(integration))


@org_permission_required("integrations:manage")
@require_POST
@_problems_as_403
def integration_image_move(request, public_id: str, image_id: str):
    """Move a screenshot one place earlier or later in the gallery."""
    membership = _membership(request)
    integration = selectors.integration_get_for_actor(actor=membership, public_id=public_id, write=True)
    image = integration_image_get_for_actor(actor=membership, integration=integration, public_id=image_id)
    order = [s.public_id for s in integration_screenshots(integration)]
    if image.public_id in order:
        index = order.index(image.public_id)
        other = index - 1 if request.POST.get("direction") == "up" else index + 1
        if 0 <= other < len(order):
            order[index], order[other] = order[other], order[index]
            try:
                media_services.integration_image_reorder(
                    integration=integration, actor=membership, order=order, meta=RequestMeta.from_request(request)
                )
            except ValidationError as error:
                flash_service_errors(request, error)
    return redirect(_images_url(integration))


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
        "logo": integration_logo(integration),
        "screenshots": integration_screenshots(integration),
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
        flash_service_errors(request, error)
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
        flash_service_errors(request, error)
    else:
        messages.success(request, "Unpublished. The listing is hidden from the marketplace.")
    return redirect("marketplace:status", integration.public_id)


# ---- staff review ------------------------------------------------------------------------


@_staff_required
@require_GET
def review_queue(request):
    page = Paginator(selectors.integration_review_queue(), 25).get_page(request.GET.get("page"))
    prefetch_related_objects(page.object_list, "images")
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
        "logo": integration_logo(integration),
        "screenshots": integration_screenshots(integration),
    }
    return render(request, "marketplace/review.html", context, status=form_status(form))
