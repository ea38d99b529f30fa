"""Access checks for HTML views: sign-in, a current organisation and a permission."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect


def org_member_required(view):
    """Signed in with a verified e-mail, acting through a membership."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.email_verified:
            return redirect("accounts:verify_email_sent")
        if not request.membership:
            return redirect("accounts:organization_create")
        if request.membership.organization.require_2fa and not request.user.has_totp:
            messages.warning(request, f"{request.membership.organization.name} requires two-factor authentication.")
            return redirect("accounts:totp_enrol")
        return view(request, *args, **kwargs)

    return wrapper


def org_permission_required(code: str):
    """A member whose role holds `code`; others get the 403 page."""

    def decorator(view):
        @org_member_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.membership.has_perm(code):
                raise PermissionDenied(f"Your role does not include “{code}”.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def staff_required(reason: str):
    """Pages of the staff area: anonymous visitors go to the login, signed-in non-staff get a 403
    saying `reason` (what only staff do here)."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not request.user.is_staff:
                raise PermissionDenied(reason)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
