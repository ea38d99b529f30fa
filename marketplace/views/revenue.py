"""The partner area's money pages (dashboard, payout settings), statements and payouts for partners
and customers, and the staff's platform-revenue page.

Reads go through marketplace.selectors (statements through one chokepoint that answers 404 for
another organisation's), writes through marketplace.services.
"""

from __future__ import annotations

from functools import wraps

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.decorators import org_member_required, staff_required
from accounts.services import RequestMeta
from apikeys.views import _membership, _no_store
from marketplace import selectors, services
from marketplace.models import PartnerAccount, Statement
from portal.pages import apply_service_errors as _apply_errors
from portal.pages import form_status


def _any_permission(*codes: str, partner: bool = False):
    """A member holding at least one of `codes` (in a partner organisation when `partner`)."""

    def decorator(view):
        @org_member_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            membership = _membership(request)
            if partner and not membership.organization.is_partner:
                raise PermissionDenied("The partner area is for partner organisations.")
            if not any(membership.has_perm(code) for code in codes):
                raise PermissionDenied(f"Your role does not include “{' or '.join(codes)}”.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


_staff_only = staff_required("Only staff see platform revenue.")


def _masked(account: PartnerAccount | None) -> str:
    return f"•••• {account.payout_details_last4}" if account and account.payout_details_last4 else ""


def _share_percent(account: PartnerAccount | None) -> str:
    basis_points = account.share_basis_points if account else PartnerAccount.DEFAULT_SHARE_BASIS_POINTS
    return f"{basis_points / 100:g} %"


# ---- partner dashboard ---------------------------------------------------------------------


@_any_permission("integrations:read", "payouts:read", partner=True)
@require_GET
def partner_dashboard(request):
    membership = _membership(request)
    organization = membership.organization
    context = selectors.partner_dashboard_get(organization=organization)
    context.update(
        {
            "blockers": services.partner_blockers(organization),
            "can_see_money": membership.has_perm("payouts:read"),
            "can_manage_payouts": membership.has_perm("payouts:manage"),
            "account": PartnerAccount.objects.filter(organization=organization).first(),
        }
    )
    context["masked"] = _masked(context["account"])
    return render(request, "marketplace/partner_dashboard.html", context)


# ---- payout settings -----------------------------------------------------------------------


class _NoEchoInput(forms.TextInput):
    """A text input that never renders the submitted value back: bank details are not echoed."""

    def get_context(self, name, value, attrs):
        return super().get_context(name, None, attrs)


class PayoutSettingsForm(forms.Form):
    account_holder = forms.CharField(label="Account holder", max_length=140)
    account_number = forms.CharField(
        label="IBAN or account number",
        max_length=64,
        widget=_NoEchoInput(attrs={"autocomplete": "off", "spellcheck": "false", "inputmode": "text"}),
        help_text="An IBAN (checked with mod-97), or a US account number with its routing number.",
    )
    routing_number = forms.CharField(
        label="Routing number (US accounts only)",
        max_length=11,
        required=False,
        widget=_NoEchoInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )


@_any_permission("payouts:manage", partner=True)
@require_http_methods(["GET", "POST"])
def payout_settings(request):
    membership = _membership(request)
    account = PartnerAccount.objects.filter(organization=membership.organization).first()
    initial = {"account_holder": account.payout_account_holder} if account else {}
    form = PayoutSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.partner_payout_details_update(
                actor=membership,
                account_holder=form.cleaned_data["account_holder"],
                account_number=form.cleaned_data["account_number"],
                routing_number=form.cleaned_data["routing_number"],
                meta=RequestMeta.from_request(request),
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, "Payout details saved. We show only the last four characters.")
            return redirect("marketplace:payout_settings")
    context = {"form": form, "account": account, "masked": _masked(account), "share_percent": _share_percent(account)}
    return _no_store(render(request, "marketplace/payout_settings.html", context, status=form_status(form)))


# ---- statements ----------------------------------------------------------------------------


@_any_permission("payouts:read", "billing:read")
@require_GET
def statements(request):
    membership = _membership(request)
    organization = membership.organization
    is_partner_reader = organization.is_partner and membership.has_perm("payouts:read")
    context = {
        "statements": list(selectors.statement_list_for_actor(actor=membership)),
        "payouts": list(selectors.payout_list_for_organization(organization=organization)[:24])
        if is_partner_reader
        else [],
        "preview": selectors.next_payout_preview(organization=organization) if is_partner_reader else [],
        "is_partner_reader": is_partner_reader,
    }
    return render(request, "marketplace/statements.html", context)


_DOWNLOADS = {"csv": ("csv_file", "text/csv; charset=utf-8"), "pdf": ("pdf_file", "application/pdf")}


@_any_permission("payouts:read", "billing:read")
@require_GET
def statement_download(request, public_id: str, fmt: str):
    if fmt not in _DOWNLOADS:
        raise Http404("No such format.")
    statement = selectors.statement_get_for_actor(actor=_membership(request), public_id=public_id)
    field, content_type = _DOWNLOADS[fmt]
    file = getattr(statement, field)
    if not file:
        raise Http404("The file is missing.")
    kind = "partner" if statement.kind == Statement.Kind.PARTNER else "customer"
    filename = f"{kind}-statement-{statement.period}-{statement.currency}.{fmt}"
    response = FileResponse(file.open("rb"), as_attachment=True, filename=filename, content_type=content_type)
    return _no_store(response)


# ---- staff -------------------------------------------------------------------------------


@_staff_only
@require_GET
def staff_revenue(request):
    by_partner = selectors.platform_revenue_by_partner()
    payouts = selectors.payout_totals_by_partner()
    for row in by_partner:
        totals = payouts.get((row["integration__organization__public_id"], row["currency"]), {})
        row["paid"] = totals.get("paid", 0)
        row["pending"] = totals.get("pending", 0)
    context = {"by_month": selectors.platform_revenue_by_month(), "by_partner": by_partner}
    return render(request, "marketplace/staff_revenue.html", context)
