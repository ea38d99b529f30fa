"""Portal pages for API keys, key templates, the naming policy, OAuth applications and
penalty blocks.

Views check who may open a page (decorators), parse input (forms) and hand every change
to a service in apikeys.services. A ValidationError from a service becomes a message
next to the field it names; a 403 problem from a service becomes the 403 page. Secrets
are rendered straight into the response to the POST that made them (with
`Cache-Control: no-store`) and are never stored, so a later visit cannot show them.
"""

from __future__ import annotations

from datetime import timedelta
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import F, Q, TextField
from django.db.models.functions import Cast
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.functional import empty
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors as account_selectors
from accounts.decorators import org_permission_required
from accounts.models import Membership
from accounts.services import RequestMeta
from apikeys import ratelimit, selectors, services
from apikeys.forms import (
    BulkForm,
    KeyCreateForm,
    KeyFilterForm,
    KeyPolicyForm,
    KeySettingsForm,
    KeyTemplateForm,
    OAuthApplicationForm,
    RevokeForm,
    RotateForm,
    split_commas,
    split_lines,
)
from apikeys.models import ApiKey, KeyTemplate, OAuthApplication
from portal.lib.geo import country_of
from portal.lib.keys import PREFIXES
from portal.pages import apply_service_errors as _apply_errors
from portal.pages import flash_service_errors, form_status
from portal.problems import ProblemException

PAGE_SIZE = 25
USAGE_ROWS = 50
EXPIRING_WITHIN = timedelta(days=30)
SORTS = {
    "-created": [F("created_at").desc(), F("id").desc()],
    "created": [F("created_at").asc(), F("id").asc()],
    "name": [F("name").asc(), F("id").asc()],
    "-name": [F("name").desc(), F("id").desc()],
    "-last_used": [F("last_used_at").desc(nulls_last=True), F("id").desc()],
    "expires": [F("expires_at").asc(nulls_last=True), F("id").asc()],
}


# ---- helpers -------------------------------------------------------------------------------


def _meta(request) -> RequestMeta:
    return RequestMeta.from_request(request)


def _membership(request) -> Membership:
    # The middleware attaches a lazy proxy; services get the real row.
    membership = request.membership
    if isinstance(membership, Membership):
        return membership
    if membership._wrapped is empty:
        membership._setup()
    return membership._wrapped


def _require(request, code: str) -> None:
    if not request.membership.has_perm(code):
        raise PermissionDenied(f"Your role does not include “{code}”.")


def _problems_as_403(view):
    """Services answer a missing permission with a 403 problem; pages show the 403 page."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ProblemException as problem:
            if problem.status_code == 403:
                raise PermissionDenied(str(problem.detail))
            raise

    return wrapper


def _expiry_alias(form) -> dict[str, str]:
    return {"expires_at": "expires_on" if form.cleaned_data.get("expiry") == "custom" else "expiry"}


def _no_store(response):
    add_never_cache_headers(response)
    response["Cache-Control"] = "no-store"
    return response


def _safe_next(request, fallback: str) -> str:
    next_url = request.POST.get("next", "")
    if next_url and url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        return next_url
    return fallback


def _can_manage(membership: Membership, key: ApiKey) -> bool:
    return membership.has_perm("keys:manage") and (not key.livemode or membership.has_perm("keys:live"))


def _status(key: ApiKey, now) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None:
        if key.expires_at <= now:
            return "expired"
        if key.expires_at <= now + EXPIRING_WITHIN:
            return "expiring"
    return "active"


def _templates(organization) -> list[KeyTemplate]:
    return selectors.key_template_list(organization=organization)


# ---- keys list and bulk actions -----------------------------------------------------------


def _filtered_keys(organization, data: dict):
    """The organisation's keys narrowed by the list's query-string filters."""
    status = data.get("status") or ""
    keys = selectors.apikey_list(
        organization=organization,
        environment=data.get("environment") or None,
        status="active" if status == "expiring" else (status or None),
    )
    if status == "expiring":
        keys = keys.filter(expires_at__isnull=False, expires_at__lte=timezone.now() + EXPIRING_WITHIN)
    query = (data.get("q") or "").strip()
    if query:
        # Accept what people paste: a name, "pk_test_<lookup>…<last4>", a bare lookup id or last 4.
        head, _sep, tail = query.replace("...", "…").partition("…")
        lookup = head
        for prefix in PREFIXES.values():
            lookup = lookup.removeprefix(prefix)
        match = Q(name__icontains=query) | Q(public_id=query)
        if lookup and (lookup != head or len(lookup) >= 4):
            match |= Q(lookup_id__startswith=lookup)
        if len(query) == 4:
            match |= Q(last4=query)
        if tail:
            match = Q(lookup_id__startswith=lookup, last4=tail[-4:])
        keys = keys.filter(match)
    if data.get("scope"):
        # Scopes are catalogue codes (validated by the form); match the quoted code in the JSON text,
        # which works the same on SQLite and PostgreSQL.
        keys = keys.annotate(scopes_text=Cast("scopes", TextField())).filter(scopes_text__contains=f'"{data["scope"]}"')
    return keys.order_by(*SORTS.get(data.get("sort") or "-created", SORTS["-created"]))


@org_permission_required("keys:read")
@require_GET
def key_list(request):
    membership = _membership(request)
    organization = membership.organization
    form = KeyFilterForm(request.GET or None)
    filters = {k: v for k, v in form.cleaned_data.items() if v} if form.is_valid() else {}
    page = Paginator(_filtered_keys(organization, filters), PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = [{"key": key, "status": _status(key, now), "can_manage": _can_manage(membership, key)} for key in page]
    can_bulk = membership.has_perm("keys:manage")
    context = {
        "form": form,
        "page": page,
        "rows": rows,
        "query": urlencode(filters),
        "filtered": bool(set(filters) - {"sort"}),
        "can_create": membership.has_perm("keys:create"),
        "can_bulk": can_bulk,
        "bulk_form": BulkForm(actor=membership) if can_bulk else None,
        "can_templates": membership.has_perm("key_templates:manage"),
        "can_blocks": membership.has_perm("ip_blocks:manage"),
        "tab": "keys",
    }
    return render(request, "apikeys/key_list.html", context)


@org_permission_required("keys:manage")
@require_POST
@_problems_as_403
def key_bulk(request):
    membership = _membership(request)
    back = _safe_next(request, reverse("apikeys:key_list"))
    form = BulkForm(request.POST, actor=membership)
    if not form.is_valid():
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, message)
        return redirect(back)
    keys = selectors.apikey_get_many(organization=membership.organization, public_ids=form.cleaned_data["keys"])
    action, meta = form.cleaned_data["action"], _meta(request)
    try:
        if action == "revoke":
            changed = services.apikey_bulk_revoke(keys=keys, actor=membership, reason="Bulk revoke", meta=meta)
            messages.success(request, f"{changed} key{'s' if changed != 1 else ''} revoked.")
        elif action == "rotate":
            grace = timedelta(seconds=form.cleaned_data["grace"] or 0)
            rotated = services.apikey_bulk_rotate(keys=keys, actor=membership, grace=grace, meta=meta)
            response = render(
                request,
                "apikeys/key_secrets.html",
                {"rotated": rotated, "grace": services.ROTATION_GRACE_PERIODS[int(grace.total_seconds())]},
            )
            return _no_store(response)
        elif action == "extend":
            days = form.cleaned_data["expiry_days"]
            expires_at = timezone.now() + timedelta(days=days) if days else None
            changed = services.apikey_bulk_set_expiry(keys=keys, actor=membership, expires_at=expires_at, meta=meta)
            when = f"expire in {days} days" if days else "never expire"
            messages.success(request, f"{changed} key{'s' if changed != 1 else ''} will {when}.")
        else:
            changed = services.apikey_bulk_set_scopes(
                keys=keys, actor=membership, scopes=form.cleaned_data["bulk_scopes"], meta=meta
            )
            messages.success(request, f"Scopes replaced on {changed} key{'s' if changed != 1 else ''}.")
    except ValidationError as error:
        flash_service_errors(request, error, prefix="Nothing changed: ")
    except ProblemException as problem:
        messages.error(request, f"Nothing changed: {problem.detail}")
    return redirect(back)


# ---- create ------------------------------------------------------------------------------


@org_permission_required("keys:create")
@require_http_methods(["GET", "POST"])
@_problems_as_403
def key_create(request):
    membership = _membership(request)
    organization = membership.organization
    templates = _templates(organization)
    template = None
    initial = {}
    if request.method == "GET" and request.GET.get("template"):
        template = next((t for t in templates if t.public_id == request.GET["template"]), None)
        if template is None:
            raise Http404("No such key template.")
        initial = KeyCreateForm.initial_from_template(template)
    form = KeyCreateForm(request.POST or None, actor=membership, initial=initial)
    policy = selectors.key_policy_get(organization=organization)
    if policy is not None and policy.name_pattern:
        form.fields["name"].help_text = policy.name_message or f"Must match {policy.name_pattern}."
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            key, secret = services.apikey_create(
                organization=organization,
                actor_membership=membership,
                name=data["name"],
                description=data["description"],
                environment=data["environment"],
                scopes=data["scopes"],
                expires_at=form.expires_at(),
                allowed_ips=split_lines(data["allowed_ips"]),
                allowed_countries=split_commas(data["allowed_countries"]),
                rate_limit_per_hour=data["rate_limit_per_hour"],
                meta=_meta(request),
            )
        except ValidationError as error:
            _apply_errors(form, error, _expiry_alias(form))
        else:
            response = render(request, "apikeys/key_created.html", {"key": key, "secret": secret, "tab": "keys"})
            return _no_store(response)
    context = {"form": form, "templates": templates, "template": template, "tab": "keys"}
    return render(request, "apikeys/key_create.html", context, status=form_status(form))


# ---- detail, settings, rotate, revoke ------------------------------------------------------


def _detail_context(request, key: ApiKey, **extra) -> dict:
    membership = _membership(request)
    organization = membership.organization
    can_manage = _can_manage(membership, key) and key.revoked_at is None
    usage = selectors.request_log_recent(organization=organization, key=key, limit=USAGE_ROWS)
    audit = []
    if membership.has_perm("audit:read"):
        audit = list(
            account_selectors.audit_log_list(organization=organization).filter(
                target_type="apikey", target_id=key.public_id
            )[:10]
        )
    context = {
        "key": key,
        "status": _status(key, timezone.now()),
        "can_manage": can_manage,
        "usage": usage,
        "audit": audit,
        "tab": "keys",
    }
    if can_manage:
        context.setdefault("form", KeySettingsForm(actor=membership, key=key))
        context.setdefault("rotate_form", RotateForm())
        context.setdefault("revoke_form", RevokeForm())
    context.update(extra)
    return context


@org_permission_required("keys:read")
@require_http_methods(["GET", "POST"])
@_problems_as_403
def key_detail(request, public_id: str):
    """The key's settings, recent requests, rotation and revocation; POST saves the settings."""
    membership = _membership(request)
    key = selectors.apikey_get(organization=membership.organization, public_id=public_id)
    if request.method == "GET":
        return render(request, "apikeys/key_detail.html", _detail_context(request, key))
    _require(request, "keys:manage")
    if not _can_manage(membership, key):
        raise PermissionDenied("Your role cannot manage live keys (it lacks keys:live).")
    form = KeySettingsForm(request.POST, actor=membership, key=key)
    if form.is_valid():
        data = form.cleaned_data
        changes = {
            "name": data["name"],
            "description": data["description"],
            "scopes": data["scopes"],
            "allowed_ips": split_lines(data["allowed_ips"]),
            "allowed_countries": split_commas(data["allowed_countries"]),
            "rate_limit_per_hour": data["rate_limit_per_hour"],
        }
        expires_at = form.expires_at()
        if expires_at != "keep":
            changes["expires_at"] = expires_at
        try:
            services.apikey_update(key=key, actor=membership, meta=_meta(request), **changes)
        except ValidationError as error:
            _apply_errors(form, error, _expiry_alias(form))
            key.refresh_from_db()
        else:
            messages.success(request, f"Settings of “{key.name}” saved.")
            return redirect("apikeys:key_detail", public_id=key.public_id)
    return render(request, "apikeys/key_detail.html", _detail_context(request, key, form=form), status=400)


@org_permission_required("keys:manage")
@require_POST
@_problems_as_403
def key_rotate(request, public_id: str):
    membership = _membership(request)
    key = selectors.apikey_get(organization=membership.organization, public_id=public_id)
    form = RotateForm(request.POST)
    if form.is_valid():
        try:
            key, secret = services.apikey_rotate(key=key, actor=membership, grace=form.grace_delta, meta=_meta(request))
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            grace = services.ROTATION_GRACE_PERIODS[form.cleaned_data["grace"]]
            response = render(
                request,
                "apikeys/key_created.html",
                {"key": key, "secret": secret, "rotated": True, "grace": grace, "tab": "keys"},
            )
            return _no_store(response)
    return render(request, "apikeys/key_detail.html", _detail_context(request, key, rotate_form=form), status=400)


@org_permission_required("keys:manage")
@require_POST
@_problems_as_403
def key_revoke(request, public_id: str):
    membership = _membership(request)
    key = selectors.apikey_get(organization=membership.organization, public_id=public_id)
    form = RevokeForm(request.POST)
    if not form.is_valid():
        return render(request, "apikeys/key_detail.html", _detail_context(request, key, revoke_form=form), status=400)
    services.apikey_revoke(key=key, actor=membership, reason=form.cleaned_data["reason"], meta=_meta(request))
    messages.success(request, f"“{key.name}” is revoked; requests with it are refused from now on.")
    return redirect("apikeys:key_detail", public_id=key.public_id)


# ---- key templates and the naming policy ---------------------------------------------------


def _template_values(form) -> dict:
    data = form.cleaned_data
    return {
        "name": data["name"],
        "environment": data["environment"],
        "scopes": data["scopes"],
        "expires_in_days": data["expires_in_days"],
        "rate_limit_per_hour": data["rate_limit_per_hour"],
        "allowed_ips": split_lines(data["allowed_ips"]),
    }


def _template_get(organization, public_id: str) -> KeyTemplate:
    return selectors.key_template_get(organization=organization, public_id=public_id)


@org_permission_required("key_templates:manage")
@require_GET
def template_list(request):
    templates = _templates(request.membership.organization)
    return render(request, "apikeys/template_list.html", {"templates": templates, "tab": "templates"})


@org_permission_required("key_templates:manage")
@require_http_methods(["GET", "POST"])
@_problems_as_403
def template_create(request):
    membership = _membership(request)
    form = KeyTemplateForm(request.POST or None, actor=membership, initial={"scopes": ["keys:read"]})
    if request.method == "POST" and form.is_valid():
        try:
            template = services.key_template_create(
                organization=membership.organization,
                actor_membership=membership,
                meta=_meta(request),
                **_template_values(form),
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, f"Template “{template.name}” created.")
            return redirect("apikeys:template_list")
    context = {"form": form, "template": None, "tab": "templates"}
    return render(request, "apikeys/template_form.html", context, status=form_status(form))


@org_permission_required("key_templates:manage")
@require_http_methods(["GET", "POST"])
@_problems_as_403
def template_edit(request, public_id: str):
    membership = _membership(request)
    template = _template_get(membership.organization, public_id)
    initial = {
        "name": template.name,
        "environment": template.environment,
        "scopes": list(template.scopes),
        "expires_in_days": template.expires_in_days,
        "rate_limit_per_hour": template.rate_limit_per_hour,
        "allowed_ips": "\n".join(template.allowed_ips),
    }
    form = KeyTemplateForm(request.POST or None, actor=membership, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.key_template_update(
                template=template, actor_membership=membership, meta=_meta(request), **_template_values(form)
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, f"Template “{template.name}” saved.")
            return redirect("apikeys:template_list")
    context = {"form": form, "template": template, "tab": "templates"}
    return render(request, "apikeys/template_form.html", context, status=form_status(form))


@org_permission_required("key_templates:manage")
@require_POST
@_problems_as_403
def template_delete(request, public_id: str):
    membership = _membership(request)
    template = _template_get(membership.organization, public_id)
    services.key_template_delete(template=template, actor_membership=membership, meta=_meta(request))
    messages.success(request, f"Template “{template.name}” deleted. Keys made from it are unchanged.")
    return redirect("apikeys:template_list")


@org_permission_required("key_templates:manage")
@require_http_methods(["GET", "POST"])
@_problems_as_403
def naming_policy(request):
    membership = _membership(request)
    policy = selectors.key_policy_get(organization=membership.organization)
    initial = {"name_pattern": policy.name_pattern, "name_message": policy.name_message} if policy else {}
    form = KeyPolicyForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.key_policy_update(
                organization=membership.organization,
                actor_membership=membership,
                name_pattern=form.cleaned_data["name_pattern"],
                name_message=form.cleaned_data["name_message"],
                meta=_meta(request),
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, "Naming policy saved. It applies to new and renamed keys.")
            return redirect("apikeys:naming_policy")
    context = {"form": form, "policy": policy, "tab": "policy"}
    return render(request, "apikeys/naming_policy.html", context, status=form_status(form))


# ---- OAuth applications ----------------------------------------------------------------------


def _oauth_values(form) -> dict:
    data = form.cleaned_data
    values = {"name": data["name"], "description": data["description"], "scopes": data["scopes"]}
    if "redirect_uris" in form.fields:
        values["redirect_uris"] = split_lines(data["redirect_uris"])
    return values


def _oauth_secret_page(request, application, secret: str, *, rotated: bool):
    response = render(
        request,
        "apikeys/oauth_app_created.html",
        {"application": application, "secret": secret, "rotated": rotated, "tab": "oauth"},
    )
    return _no_store(response)


@org_permission_required("oauth_apps:read")
@require_GET
def oauth_app_list(request):
    membership = _membership(request)
    environment = request.GET.get("environment") if request.GET.get("environment") in ("live", "test") else None
    applications = selectors.oauth_application_list(organization=membership.organization, environment=environment)
    context = {
        "applications": applications,
        "environment": environment or "",
        "can_manage": membership.has_perm("oauth_apps:manage"),
        "tab": "oauth",
    }
    return render(request, "apikeys/oauth_app_list.html", context)


@org_permission_required("oauth_apps:manage")
@require_http_methods(["GET", "POST"])
@_problems_as_403
def oauth_app_create(request):
    membership = _membership(request)
    form = OAuthApplicationForm(
        request.POST or None,
        actor=membership,
        initial={"environment": "test", "grant_type": "client_credentials"},
    )
    if request.method == "POST" and form.is_valid():
        try:
            application, secret = services.oauth_application_create(
                organization=membership.organization,
                actor_membership=membership,
                environment=form.cleaned_data["environment"],
                grant_type=form.cleaned_data["grant_type"],
                meta=_meta(request),
                **_oauth_values(form),
            )
        except ValidationError as error:
            _apply_errors(form, error, {"authorization_grant_type": "grant_type", "allowed_scopes": "scopes"})
        else:
            return _oauth_secret_page(request, application, secret, rotated=False)
    return render(request, "apikeys/oauth_app_create.html", {"form": form, "tab": "oauth"}, status=form_status(form))


@org_permission_required("oauth_apps:read")
@require_http_methods(["GET", "POST"])
@_problems_as_403
def oauth_app_detail(request, public_id: str):
    membership = _membership(request)
    application = selectors.oauth_application_get(organization=membership.organization, public_id=public_id)
    can_manage = membership.has_perm("oauth_apps:manage")
    initial = {
        "name": application.name,
        "description": application.description,
        "redirect_uris": "\n".join(application.redirect_uri_list),
        "scopes": list(application.allowed_scopes),
    }
    form = None
    redirects = application.authorization_grant_type == OAuthApplication.GRANT_AUTHORIZATION_CODE
    if request.method == "POST":
        _require(request, "oauth_apps:manage")
        form = OAuthApplicationForm(request.POST, actor=membership, editing=True, redirects=redirects, initial=initial)
        if form.is_valid():
            try:
                services.oauth_application_update(
                    application=application, actor_membership=membership, meta=_meta(request), **_oauth_values(form)
                )
            except ValidationError as error:
                _apply_errors(form, error, {"allowed_scopes": "scopes"})
                application.refresh_from_db()
            else:
                messages.success(request, f"“{application.name}” saved.")
                return redirect("apikeys:oauth_app_detail", public_id=application.public_id)
    elif can_manage:
        form = OAuthApplicationForm(actor=membership, editing=True, redirects=redirects, initial=initial)
    context = {"application": application, "form": form, "can_manage": can_manage, "tab": "oauth"}
    return render(request, "apikeys/oauth_app_detail.html", context, status=form_status(form))


@org_permission_required("oauth_apps:manage")
@require_POST
@_problems_as_403
def oauth_app_rotate(request, public_id: str):
    membership = _membership(request)
    application = selectors.oauth_application_get(organization=membership.organization, public_id=public_id)
    application, secret = services.oauth_application_rotate_secret(
        application=application, actor_membership=membership, meta=_meta(request)
    )
    return _oauth_secret_page(request, application, secret, rotated=True)


@org_permission_required("oauth_apps:manage")
@require_POST
@_problems_as_403
def oauth_app_delete(request, public_id: str):
    membership = _membership(request)
    application = selectors.oauth_application_get(organization=membership.organization, public_id=public_id)
    name = application.name
    services.oauth_application_delete(application=application, actor_membership=membership, meta=_meta(request))
    messages.success(request, f"“{name}” deleted; its tokens no longer work.")
    return redirect("apikeys:oauth_app_list")


# ---- penalty blocks --------------------------------------------------------------------------

BLOCK_IP_WINDOW = timedelta(hours=24)  # a penalty level lasts a day, so older addresses can't be blocked
MAX_BLOCK_IPS = 2000


def _block_subjects(organization) -> tuple[dict[str, ApiKey], set[str]]:
    """The organisation's keys by subject, and the addresses that used them lately."""
    keys = {
        f"key:{key.pk}": key for key in selectors.apikey_list(organization=organization).filter(revoked_at__isnull=True)
    }
    since = timezone.now() - BLOCK_IP_WINDOW
    ips = selectors.request_log_client_ips(organization=organization, since=since, limit=MAX_BLOCK_IPS)
    ips |= {key.last_used_ip for key in keys.values() if key.last_used_ip}
    return keys, ips


def _duration(ms: int) -> str:
    seconds = max(1, round(ms / 1000))
    if seconds < 120:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


@org_permission_required("ip_blocks:manage")
@require_http_methods(["GET", "POST"])
def block_list(request):
    membership = _membership(request)
    organization = membership.organization
    keys, ips = _block_subjects(organization)
    if request.method == "POST":
        subject = request.POST.get("subject", "")
        kind, _sep, value = subject.partition(":")
        if not ((kind == "key" and subject in keys) or (kind == "ip" and value in ips)):
            raise Http404("No such block in this organisation.")
        try:
            services.ratelimit_block_lift(
                subject=subject,
                actor=request.user,
                organization=organization,
                target=keys.get(subject),
                meta=_meta(request),
            )
        except ratelimit.redis.RedisError:
            messages.error(request, "The rate limiter's store is unreachable; try again in a moment.")
            return redirect("apikeys:block_list")
        label = f"the key “{keys[subject].name}”" if kind == "key" else f"the address {value}"
        messages.success(request, f"Lifted the block on {label}.")
        return redirect("apikeys:block_list")
    rows = []
    for block in ratelimit.block_list([*keys, *(f"ip:{ip}" for ip in sorted(ips))]):
        kind, _sep, value = block.subject.partition(":")
        rows.append(
            {
                "block": block,
                "key": keys.get(block.subject),
                "ip": value if kind == "ip" else "",
                "country": country_of(value) if kind == "ip" else "",
                "until": timezone.now() + timedelta(milliseconds=block.remaining_ms),
                "remaining": _duration(block.remaining_ms),
            }
        )
    context = {"rows": rows, "watched_keys": len(keys), "watched_ips": len(ips), "tab": "blocks"}
    return render(request, "apikeys/block_list.html", context)
