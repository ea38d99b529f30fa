"""Portal pages for webhooks: endpoints, the delivery log, attempts, events, the built-in
test receiver and the documentation. Every change goes through webhooks.services."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import org_permission_required
from accounts.services import RequestMeta
from portal.pages import apply_service_errors as _apply_errors
from portal.pages import form_status
from webhooks import catalogue, selectors, services
from webhooks.forms import DeliveryFilterForm, EndpointForm, RecoverForm, ResendForm, TestEventForm
from webhooks.models import Receiver
from webhooks.services import RETRY_SCHEDULE

PAGE_SIZE = 25
MAX_RECEIVED_BODY = 256 * 1024


def _require(request, code: str) -> None:
    if not request.membership.has_perm(code):
        raise PermissionDenied(f"Your role does not include “{code}”.")


def _endpoint(request, public_id: str):
    return selectors.endpoint_get(organization=request.membership.organization, public_id=public_id)


def _no_store(response):
    add_never_cache_headers(response)
    response["Cache-Control"] = "no-store"
    return response


@org_permission_required("webhooks:read")
@require_GET
def endpoint_list(request):
    org = request.membership.organization
    environment = request.GET.get("environment", "")
    livemode = {"live": True, "test": False}.get(environment)
    endpoints = list(selectors.endpoint_list(organization=org, livemode=livemode))
    return render(
        request,
        "webhooks/endpoint_list.html",
        {
            "endpoints": endpoints,
            "environment": environment,
            "can_manage": request.membership.has_perm("webhooks:manage"),
            "receiver_url": services.receiver_url(services.receiver_for(organization=org)),
        },
    )


@org_permission_required("webhooks:manage")
@require_http_methods(["GET", "POST"])
def endpoint_create(request):
    org = request.membership.organization
    receiver = services.receiver_url(services.receiver_for(organization=org))
    form = EndpointForm(request.POST or None, initial={"url": request.GET.get("url", "")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            endpoint = services.endpoint_create(
                organization=org,
                actor=request.user,
                livemode=data["environment"] == "live",
                url=data["url"],
                description=data["description"],
                event_types=data["event_types"],
                headers=data["headers"],
                rate_limit_per_second=data["rate_limit_per_second"],
                meta=RequestMeta.from_request(request),
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Endpoint created. Reveal its signing secret to verify deliveries.")
            return redirect("webhooks:endpoint_detail", endpoint.public_id)
    return render(
        request,
        "webhooks/endpoint_form.html",
        {"form": form, "receiver_url": receiver, "groups": catalogue.grouped(), "editing": False},
        status=form_status(form),
    )


@org_permission_required("webhooks:manage")
@require_http_methods(["GET", "POST"])
def endpoint_edit(request, public_id: str):
    endpoint = _endpoint(request, public_id)
    initial = {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "headers": "\n".join(f"{k}: {v}" for k, v in endpoint.headers.items()),
        "rate_limit_per_second": endpoint.rate_limit_per_second,
    }
    form = EndpointForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            services.endpoint_update(endpoint=endpoint, actor=request.user, meta=RequestMeta.from_request(request),
                                     **form.cleaned_data)  # fmt: skip
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Endpoint saved.")
            return redirect("webhooks:endpoint_detail", endpoint.public_id)
    context = {"form": form, "endpoint": endpoint, "editing": True}
    return render(request, "webhooks/endpoint_form.html", context, status=form_status(form))


@org_permission_required("webhooks:read")
@require_GET
def endpoint_detail(request, public_id: str):
    endpoint = _endpoint(request, public_id)
    org = request.membership.organization
    filters = DeliveryFilterForm(request.GET or None)
    values = filters.cleaned_data if filters.is_valid() else {}
    deliveries = selectors.delivery_list(
        organization=org,
        endpoint=endpoint,
        status=values.get("status") or None,
        type=values.get("type") or None,
        since=values.get("since"),
    )
    page = Paginator(deliveries, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "webhooks/endpoint_detail.html",
        {
            "endpoint": endpoint,
            "filters": filters,
            "page": page,
            "query": query.urlencode(),
            "filtered": any(values.values()) if values else False,
            "test_form": TestEventForm(),
            "recover_form": RecoverForm(),
            "can_manage": request.membership.has_perm("webhooks:manage"),
            "can_secrets": request.membership.has_perm("webhooks:secrets"),
        },
    )


@org_permission_required("webhooks:manage")
@require_POST
def endpoint_toggle(request, public_id: str):
    endpoint = _endpoint(request, public_id)
    meta = RequestMeta.from_request(request)
    if endpoint.enabled:
        services.endpoint_disable(endpoint=endpoint, reason="Disabled by a member.", actor=request.user, meta=meta)
        messages.success(request, "Endpoint disabled; new events are not sent to it.")
    else:
        services.endpoint_enable(endpoint=endpoint, actor=request.user, meta=meta)
        messages.success(request, "Endpoint enabled.")
    return redirect("webhooks:endpoint_detail", endpoint.public_id)


@org_permission_required("webhooks:manage")
@require_POST
def endpoint_delete(request, public_id: str):
    endpoint = _endpoint(request, public_id)
    services.endpoint_delete(endpoint=endpoint, actor=request.user, meta=RequestMeta.from_request(request))
    messages.success(request, "Endpoint deleted.")
    return redirect("webhooks:endpoint_list")


@org_permission_required("webhooks:secrets")
@require_POST
def endpoint_secret(request, public_id: str):
    """Reveal (or, with action=rotate and webhooks:manage, rotate) the signing secret."""
    endpoint = _endpoint(request, public_id)
    meta = RequestMeta.from_request(request)
    rotated = request.POST.get("action") == "rotate"
    if rotated:
        _require(request, "webhooks:manage")
        secret = services.endpoint_rotate_secret(endpoint=endpoint, actor=request.user, meta=meta)
    else:
        secret = services.endpoint_reveal_secret(endpoint=endpoint, actor=request.user, meta=meta)
    response = render(
        request, "webhooks/endpoint_secret.html", {"endpoint": endpoint, "secret": secret, "rotated": rotated}
    )
    return _no_store(response)


@org_permission_required("webhooks:manage")
@require_POST
def endpoint_test(request, public_id: str):
    endpoint = _endpoint(request, public_id)
    form = TestEventForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose an event type from the catalogue; no test event was sent.")
        return redirect("webhooks:endpoint_detail", endpoint.public_id)
    delivery = services.endpoint_send_test(endpoint=endpoint, actor=request.user, type=form.cleaned_data["type"])
    messages.success(request, f"Test event sent ({delivery.webhook_id}).")
    return redirect("webhooks:endpoint_detail", endpoint.public_id)


@org_permission_required("webhooks:manage")
@require_POST
def endpoint_recover(request, public_id: str):
    endpoint = _endpoint(request, public_id)
    form = RecoverForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose the time to recover from.")
    else:
        count = services.deliveries_recover(
            endpoint=endpoint, since=form.cleaned_data["since"], actor=request.user,
            meta=RequestMeta.from_request(request),
        )  # fmt: skip
        if count:
            services.deliveries_dispatch()
        messages.success(request, f"{count} failed deliver{'y' if count == 1 else 'ies'} queued again.")
    return redirect("webhooks:endpoint_detail", endpoint.public_id)


@org_permission_required("webhooks:read")
@require_GET
def delivery_detail(request, public_id: str):
    delivery = selectors.delivery_get(organization=request.membership.organization, public_id=public_id)
    return render(
        request,
        "webhooks/delivery_detail.html",
        {
            "delivery": delivery,
            "attempts": list(delivery.attempts.order_by("-started_at", "-id")),
            "can_manage": request.membership.has_perm("webhooks:manage"),
        },
    )


@org_permission_required("webhooks:manage")
@require_POST
def delivery_retry(request, public_id: str):
    delivery = selectors.delivery_get(organization=request.membership.organization, public_id=public_id)
    services.delivery_retry(delivery=delivery, actor=request.user, meta=RequestMeta.from_request(request))
    messages.success(request, "Retry queued.")
    return redirect("webhooks:delivery_detail", delivery.public_id)


@org_permission_required("webhooks:read")
@require_GET
def event_list(request):
    org = request.membership.organization
    event_type = request.GET.get("type") or None
    page = Paginator(selectors.event_list(organization=org, type=event_type), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "webhooks/event_list.html",
        {
            "page": page,
            "type": event_type or "",
            "types": catalogue.TYPE_NAMES,
            "query": urlencode({"type": event_type}) if event_type else "",
        },
    )


@org_permission_required("webhooks:read")
@require_http_methods(["GET", "POST"])
def event_detail(request, public_id: str):
    org = request.membership.organization
    event = selectors.event_get(organization=org, public_id=public_id)
    endpoints = list(selectors.endpoint_list(organization=org, livemode=event.livemode))
    form = ResendForm(request.POST or None, endpoints=endpoints)
    if request.method == "POST":
        _require(request, "webhooks:manage")
        if form.is_valid():
            endpoint = selectors.endpoint_get(organization=org, public_id=form.cleaned_data["endpoint"])
            services.event_resend(event=event, endpoint=endpoint, actor=request.user,
                                  meta=RequestMeta.from_request(request))  # fmt: skip
            messages.success(request, f"Event resent to {endpoint.url}.")
            return redirect("webhooks:event_detail", event.public_id)
    deliveries = selectors.delivery_list(organization=org, event=event)
    return render(
        request,
        "webhooks/event_detail.html",
        {
            "event": event,
            "payload": services._payload(event).decode(),
            "deliveries": deliveries,
            "form": form,
            "can_manage": request.membership.has_perm("webhooks:manage"),
        },
        status=form_status(form),
    )


@org_permission_required("webhooks:read")
@require_GET
def receiver_page(request):
    receiver = services.receiver_for(organization=request.membership.organization)
    context = {
        "receiver": receiver,
        "receiver_url": services.receiver_url(receiver),
        "received": list(receiver.requests.select_related("verified_endpoint")[: services.RECEIVER_KEEP]),
        "can_manage": request.membership.has_perm("webhooks:manage"),
    }
    template = "webhooks/_received.html" if request.GET.get("partial") else "webhooks/receiver.html"
    return render(request, template, context)


@org_permission_required("webhooks:manage")
@require_POST
def receiver_clear(request):
    services.receiver_clear(receiver=services.receiver_for(organization=request.membership.organization))
    messages.success(request, "Received requests cleared.")
    return redirect("webhooks:receiver")


@csrf_exempt
def receiver_inbox(request, token: str):
    """The built-in test receiver's public URL: anyone holding the token may POST to it."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    receiver = get_object_or_404(Receiver, token=token)
    body = request.body
    if len(body) > MAX_RECEIVED_BODY:
        return JsonResponse({"error": "body too large"}, status=413)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in {"cookie", "authorization"}}
    received = services.receiver_store(receiver=receiver, headers=headers, body=body)
    return JsonResponse({"received": True, "verified": received.verified_endpoint_id is not None})


@org_permission_required("webhooks:read")
@require_GET
def docs(request):
    return render(
        request,
        "webhooks/docs.html",
        {
            "groups": catalogue.grouped(),
            "schedule": [("Attempt 1", "immediately")]
            + [(f"Attempt {n}", _human(seconds)) for n, seconds in enumerate(RETRY_SCHEDULE, start=2)],
            "endpoint_list_url": reverse("webhooks:endpoint_list"),
        },
    )


def _human(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} seconds after the previous one"
    if seconds < 3600:
        return f"{seconds // 60} minutes after the previous one"
    return f"{seconds // 3600} hours after the previous one"
