"""Sign-up, e-mail verification, sign-in with a second factor, passwords and account settings.

Throttles (django-ratelimit, counted on POST only, in the shared cache). Per IP they
slow down a single machine; per account they stop a botnet spraying one address:

    login                 10/minute per IP, 5/15 minutes per e-mail address
    second factor step    10/minute per IP, 10/15 minutes per account awaiting its second factor
    e-mail me a code      10/hour per IP,   3/10 minutes per account awaiting its second factor
    sign-up               10/hour per IP,   3/hour per e-mail address
    password reset        5/hour per IP,    3/hour per e-mail address (any address, so the
                          limit itself reveals nothing about which addresses exist)
    resend verification   10/hour per IP,   3/hour per signed-in user
    password change, 2FA disable, recovery codes: 5/15 minutes per signed-in user

A blocked request gets the 429 page from `ratelimited` below.
"""

from __future__ import annotations

import time
from functools import wraps
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.views import (
    INTERNAL_RESET_SESSION_TOKEN,
    PasswordResetCompleteView,
    PasswordResetConfirmView,
    PasswordResetDoneView,
    PasswordResetView,
    redirect_to_login,
)
from django.db import IntegrityError
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_ratelimit.decorators import ratelimit
from django_ratelimit.exceptions import Ratelimited

from accounts.forms.auth import (
    LoginForm,
    PasswordConfirmForm,
    PortalPasswordResetForm,
    ProfileForm,
    SecondFactorForm,
    SignupForm,
    TOTPConfirmForm,
)
from accounts.models import Membership, RecoveryCode, User, UserSession
from accounts.services import (
    INVITATION_PATH_PREFIX,
    PENDING_SECOND_FACTOR_MAX_AGE,
    EmailVerificationError,
    RequestMeta,
    describe_user_agent,
    email_code_send,
    login_attempt_record,
    recovery_codes_generate,
    second_factor_verify,
    totp_device_confirm,
    totp_device_disable,
    totp_device_start,
    totp_provisioning_uri,
    totp_secret,
    user_email_verify,
    user_login_record,
    user_logout_record,
    user_password_change,
    user_password_reset,
    user_profile_update,
    user_session_end,
    user_session_list,
    user_session_rekey,
    user_session_touch,
    user_signup,
    user_verification_email_send,
)
from portal.pages import form_status

PENDING_KEY = "auth_pending_2fa"
VERIFY_NEXT_KEY = "auth_verify_next"
FRESH_CODES_KEY = "auth_fresh_recovery_codes"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


# --- Throttling ------------------------------------------------------------------------


def _email_key(group, request) -> str:
    # Normalised, so "Olivia@Acme.test" and "olivia@acme.test" share one bucket.
    return request.POST.get("email", "").strip().lower()


def _pending_user_key(group, request) -> str:
    pending = request.session.get(PENDING_KEY) or {}
    return str(pending.get("user", "none"))


def _user_key(group, request) -> str:
    return str(request.user.pk) if request.user.is_authenticated else "anonymous"


def ratelimited(request, exception):
    """The 429 page (settings.RATELIMIT_VIEW); also used by `throttle` below."""
    response = render(request, "accounts/ratelimited.html", status=429)
    response["Retry-After"] = "60"
    return response


def throttle(*limits: tuple[str, object, str], record_login: bool = False):
    """Apply several POST rate limits (group, key, rate) and answer 429 when one is exceeded.

    The exception is turned into the page here rather than by a middleware, so the
    views behave the same whatever the middleware stack is.
    """

    def decorator(view):
        limited = view
        for group, key, rate in reversed(limits):
            limited = ratelimit(group=group, key=key, rate=rate, method="POST", block=True)(limited)

        @wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                return limited(request, *args, **kwargs)
            except Ratelimited as exc:
                if record_login:
                    email = request.POST.get("email", "")
                    login_attempt_record(
                        email=email,
                        user=User.objects.filter(email__iexact=email.strip()).first() if email else None,
                        succeeded=False,
                        reason="throttled",
                        meta=RequestMeta.from_request(request),
                    )
                return ratelimited(request, exc)

        return wrapper

    return decorator


# --- Helpers -------------------------------------------------------------------------------


def _safe_next(request, url: str | None) -> str:
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return ""


def _requested_next(request) -> str:
    return _safe_next(request, request.POST.get("next") or request.GET.get("next"))


def _mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}"


def _sign_in(request, user: User, *, method: str, backend: str = MODEL_BACKEND) -> None:
    """Sign in (Django rotates the session key), then record the session under its new key."""
    login(request, user, backend=backend)
    user_login_record(
        user=user, session_key=request.session.session_key, method=method, meta=RequestMeta.from_request(request)
    )


def _complete_login(request, user: User, *, method: str, next_url: str, backend: str = MODEL_BACKEND):
    _sign_in(request, user, method=method, backend=backend)
    return redirect(next_url or settings.LOGIN_REDIRECT_URL)


def _pending_user(request) -> tuple[User | None, dict]:
    """The account that passed the password step and awaits its second factor (10 minutes at most)."""
    pending = request.session.get(PENDING_KEY)
    if not pending:
        return None, {}
    if time.time() - pending.get("at", 0) > PENDING_SECOND_FACTOR_MAX_AGE:
        request.session.pop(PENDING_KEY, None)
        return None, {}
    user = User.objects.filter(public_id=pending.get("user"), is_active=True).select_related("totp_device").first()
    if user is None or not user.has_totp:
        request.session.pop(PENDING_KEY, None)
        return None, {}
    return user, pending


# --- Sign-up and e-mail verification ----------------------------------------------------


@sensitive_post_parameters("password1", "password2")
@never_cache
@throttle(("auth.signup.ip", "ip", "10/h"), ("auth.signup.account", _email_key, "3/h"))
def signup(request):
    next_url = _requested_next(request)
    if request.user.is_authenticated:
        return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    joining = next_url.startswith(INVITATION_PATH_PREFIX)
    form = SignupForm(
        request.POST or None,
        joining=joining,
        initial={"next": next_url, "email": request.GET.get("email", "")},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        meta = RequestMeta.from_request(request)
        try:
            user = user_signup(
                email=data["email"],
                password=data["password1"],
                full_name=data["full_name"],
                organization_name="" if joining else data["organization_name"],
                organization_kind=data.get("organization_kind") or "developer",
                next_url=next_url,
                meta=meta,
            )
        except IntegrityError:
            # Two sign-ups for one address raced past the form's check; the database decided.
            form.add_error(
                "email", "An account with this e-mail address already exists. Log in or reset your password."
            )
        else:
            _sign_in(request, user, method="signup")
            if next_url:
                request.session[VERIFY_NEXT_KEY] = next_url
            messages.success(request, "Welcome! Your account is ready; confirm your e-mail address to continue.")
            return redirect("accounts:verify_email_sent")
    return render(request, "accounts/signup.html", {"form": form, "joining": joining}, status=form_status(form))


@never_cache
def verify_email_sent(request):
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("accounts:verify_email_sent"))
    if request.user.email_verified:
        return redirect(request.session.get(VERIFY_NEXT_KEY) or settings.LOGIN_REDIRECT_URL)
    return render(request, "accounts/verify_email_sent.html")


@require_POST
@login_required
@throttle(("auth.verify_resend.ip", "ip", "10/h"), ("auth.verify_resend.user", _user_key, "3/h"))
def verify_email_resend(request):
    if request.user.email_verified:
        messages.info(request, "Your e-mail address is already confirmed.")
        return redirect(settings.LOGIN_REDIRECT_URL)
    user_verification_email_send(user=request.user, next_url=request.session.get(VERIFY_NEXT_KEY, ""))
    messages.success(request, f"We sent a new link to {request.user.email}.")
    return redirect("accounts:verify_email_sent")


@never_cache
def verify_email(request, token: str):
    try:
        user, next_url = user_email_verify(token=token, meta=RequestMeta.from_request(request))
    except EmailVerificationError as error:
        return render(
            request,
            "accounts/verify_email_invalid.html",
            {"reason": str(error), "expired": error.expired},
            status=400,
        )
    messages.success(request, "Thank you, your e-mail address is confirmed.")
    if not request.user.is_authenticated:
        login_url = reverse("accounts:login")
        return redirect(f"{login_url}?{urlencode({'next': next_url})}" if next_url else login_url)
    if request.user.pk != user.pk:
        return redirect(settings.LOGIN_REDIRECT_URL)
    request.session.pop(VERIFY_NEXT_KEY, None)
    return redirect(next_url or settings.LOGIN_REDIRECT_URL)


# --- Sign-in ----------------------------------------------------------------------------------


@sensitive_post_parameters("password")
@never_cache
@throttle(("auth.login.ip", "ip", "10/m"), ("auth.login.account", _email_key, "5/15m"), record_login=True)
def login_view(request):
    next_url = _requested_next(request)
    if request.method == "GET" and request.user.is_authenticated:
        return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    form = LoginForm(request.POST or None, request=request, initial={"next": next_url})
    if request.method == "POST":
        if form.is_valid():
            user = form.user
            if user.has_totp:
                request.session[PENDING_KEY] = {
                    "user": user.public_id,
                    "at": int(time.time()),
                    "next": next_url,
                    "backend": getattr(user, "backend", MODEL_BACKEND),
                }
                return redirect("accounts:login_2fa")
            return _complete_login(
                request, user, method="password", next_url=next_url, backend=getattr(user, "backend", MODEL_BACKEND)
            )
        email = request.POST.get("email", "").strip().lower()
        if email and form.has_error("__all__", "invalid_login"):
            login_attempt_record(
                email=email,
                user=User.objects.filter(email__iexact=email).first(),
                succeeded=False,
                reason="bad_credentials",
                meta=RequestMeta.from_request(request),
            )
    return render(request, "accounts/login.html", {"form": form}, status=form_status(form))


@never_cache
@throttle(("auth.2fa.ip", "ip", "10/m"), ("auth.2fa.account", _pending_user_key, "10/15m"))
def login_second_factor(request):
    user, pending = _pending_user(request)
    if user is None:
        messages.info(request, "Your sign-in timed out. Enter your password again.")
        return redirect("accounts:login")
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        meta = RequestMeta.from_request(request)
        method = second_factor_verify(user=user, code=form.cleaned_data["code"], meta=meta)
        if method:
            request.session.pop(PENDING_KEY, None)
            return _complete_login(
                request,
                user,
                method=f"password+{method}",
                next_url=_safe_next(request, pending.get("next")),
                backend=pending.get("backend", MODEL_BACKEND),
            )
        login_attempt_record(email=user.email, user=user, succeeded=False, reason="bad_second_factor", meta=meta)
        form.add_error("code", "That code is not valid. Codes from the app change every 30 seconds and work once.")
    context = {"form": form, "masked_email": _mask_email(user.email)}
    return render(request, "accounts/login_2fa.html", context, status=form_status(form))


@require_POST
@throttle(("auth.email_code.ip", "ip", "10/h"), ("auth.email_code.account", _pending_user_key, "3/10m"))
def login_send_email_code(request):
    user, _ = _pending_user(request)
    if user is None:
        messages.info(request, "Your sign-in timed out. Enter your password again.")
        return redirect("accounts:login")
    email_code_send(user=user, meta=RequestMeta.from_request(request))
    messages.success(request, f"We sent a 6-digit code to {_mask_email(user.email)}. It works for 10 minutes.")
    return redirect("accounts:login_2fa")


@require_POST
def logout_view(request):
    if request.user.is_authenticated:
        user_logout_record(
            user=request.user, session_key=request.session.session_key, meta=RequestMeta.from_request(request)
        )
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect(settings.LOGOUT_REDIRECT_URL)


# --- Password reset and change ------------------------------------------------------------


class _PasswordResetView(PasswordResetView):
    template_name = "accounts/password_reset.html"
    form_class = PortalPasswordResetForm
    success_url = reverse_lazy("accounts:password_reset_done")


class _PasswordResetConfirmView(PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form):
        # Not form.save(): the service sets the password, ends every session and audits.
        self.request.session.pop(INTERNAL_RESET_SESSION_TOKEN, None)
        if self.request.user.is_authenticated:
            logout(self.request)
        user_password_reset(
            user=form.user,
            new_password=form.cleaned_data["new_password1"],
            meta=RequestMeta.from_request(self.request),
        )
        return HttpResponseRedirect(self.get_success_url())


password_reset = throttle(("auth.reset.ip", "ip", "5/h"), ("auth.reset.account", _email_key, "3/h"))(
    _PasswordResetView.as_view()
)
password_reset_done = PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html")
password_reset_confirm = _PasswordResetConfirmView.as_view()
password_reset_complete = PasswordResetCompleteView.as_view(template_name="accounts/password_reset_complete.html")


@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@never_cache
@login_required
@throttle(("auth.password_change.user", _user_key, "5/15m"))
def password_change(request):
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        old_key = request.session.session_key
        ended = user_password_change(
            user=request.user,
            new_password=form.cleaned_data["new_password1"],
            current_session_key=old_key,
            meta=RequestMeta.from_request(request),
        )
        update_session_auth_hash(request, request.user)
        user_session_rekey(user=request.user, old_key=old_key, new_key=request.session.session_key)
        ended_text = f" {ended} other session{'s' if ended != 1 else ''} signed out." if ended else ""
        messages.success(request, f"Your password is changed.{ended_text}")
        return redirect("accounts:settings")
    return render(request, "accounts/password_change.html", {"form": form}, status=form_status(form))


# --- Account settings, second factor, sessions ----------------------------------------------


def _orgs_requiring_2fa(user: User) -> list[str]:
    return list(
        Membership.objects.filter(user=user, organization__require_2fa=True).values_list(
            "organization__name", flat=True
        )
    )


def _render_settings(request, *, profile_form=None, disable_form=None, codes_form=None, status: int = 200):
    user = request.user
    current_key = request.session.session_key
    if current_key:
        user_session_touch(user=user, session_key=current_key, meta=RequestMeta.from_request(request))
    sessions = [
        {
            "public_id": s.public_id,
            "browser": describe_user_agent(s.user_agent),
            "ip": s.ip,
            "created_at": s.created_at,
            "last_seen_at": s.last_seen_at,
            "is_current": s.session_key == current_key,
        }
        for s in user_session_list(user=user)
    ]
    context = {
        "profile_form": profile_form or ProfileForm(initial={"full_name": user.full_name}),
        "disable_form": disable_form or PasswordConfirmForm(user=user, prefix="disable"),
        "codes_form": codes_form or PasswordConfirmForm(user=user, prefix="codes"),
        "sessions": sessions,
        "has_totp": user.has_totp,
        "recovery_codes_left": RecoveryCode.objects.filter(user=user, used_at__isnull=True).count(),
        "orgs_requiring_2fa": _orgs_requiring_2fa(user),
    }
    return render(request, "accounts/settings.html", context, status=status)


@never_cache
@login_required
def account_settings(request):
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            user_profile_update(
                user=request.user, full_name=form.cleaned_data["full_name"], meta=RequestMeta.from_request(request)
            )
            messages.success(request, "Your profile is saved.")
            return redirect("accounts:settings")
        return _render_settings(request, profile_form=form)
    return _render_settings(request)


@never_cache
@login_required
def totp_enrol(request):
    # Deliberately not org_member_required: that decorator sends members of a
    # require-2FA organisation here, so it would loop.
    user = request.user
    if user.has_totp:
        messages.info(request, "Two-factor authentication is already on.")
        return redirect("accounts:settings")
    device = totp_device_start(user=user)
    form = TOTPConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = totp_device_confirm(user=user, code=form.cleaned_data["code"], meta=RequestMeta.from_request(request))
        if codes is not None:
            request.session[FRESH_CODES_KEY] = codes
            messages.success(request, "Two-factor authentication is on.")
            return redirect("accounts:recovery_codes")
        form.add_error("code", "That code is not right. Check that your phone's clock is set automatically.")
    secret = totp_secret(device=device)
    uri = totp_provisioning_uri(device=device)
    # segno renders the QR code here, as inline SVG: the secret never leaves the server.
    qr_svg = mark_safe(segno.make(uri, error="m").svg_inline(scale=4, dark="#000000", light="#ffffff"))  # noqa: S308
    context = {
        "form": form,
        "qr_svg": qr_svg,
        "secret_grouped": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "secret": secret,
    }
    return render(request, "accounts/totp_enrol.html", context, status=form_status(form))


@require_POST
@login_required
@throttle(("auth.2fa_disable.user", _user_key, "5/15m"))
def totp_disable(request):
    form = PasswordConfirmForm(request.POST, user=request.user, prefix="disable")
    required_by = _orgs_requiring_2fa(request.user)
    if required_by:
        messages.error(
            request, f"{', '.join(required_by)} requires two-factor authentication, so it cannot be turned off."
        )
        return redirect("accounts:settings")
    if not form.is_valid():
        return _render_settings(request, disable_form=form)
    totp_device_disable(user=request.user, meta=RequestMeta.from_request(request))
    messages.success(request, "Two-factor authentication is off.")
    return redirect("accounts:settings")


@never_cache
@login_required
@throttle(("auth.recovery_codes.user", _user_key, "5/15m"))
def recovery_codes_regenerate(request):
    """GET shows freshly made codes once (then forgets them); POST makes a new set."""
    if request.method == "POST":
        if not request.user.has_totp:
            return redirect("accounts:totp_enrol")
        form = PasswordConfirmForm(request.POST, user=request.user, prefix="codes")
        if not form.is_valid():
            return _render_settings(request, codes_form=form)
        request.session[FRESH_CODES_KEY] = recovery_codes_generate(
            user=request.user, meta=RequestMeta.from_request(request)
        )
        messages.success(request, "New recovery codes are ready; the old ones no longer work.")
        return redirect("accounts:recovery_codes")
    codes = request.session.pop(FRESH_CODES_KEY, None)
    if not codes:
        return redirect("accounts:settings")
    return render(request, "accounts/recovery_codes.html", {"codes": codes})


@require_POST
@login_required
def session_end(request, public_id: str):
    if UserSession.objects.filter(
        user=request.user, public_id=public_id, session_key=request.session.session_key
    ).exists():
        messages.info(request, "That is this browser: use Log out to end it.")
        return redirect("accounts:settings")
    ended = user_session_end(user=request.user, public_id=public_id, meta=RequestMeta.from_request(request))
    messages.success(request, f"Signed out {describe_user_agent(ended.user_agent)} ({ended.ip or 'unknown IP'}).")
    return redirect("accounts:settings")
