"""PLACEHOLDER module: being written now; every function here is replaced."""

from django.http import HttpResponse


def account_settings(request, *args, **kwargs):
    return HttpResponse("account_settings: being built", status=501)


def login_second_factor(request, *args, **kwargs):
    return HttpResponse("login_second_factor: being built", status=501)


def login_send_email_code(request, *args, **kwargs):
    return HttpResponse("login_send_email_code: being built", status=501)


def login_view(request, *args, **kwargs):
    return HttpResponse("login_view: being built", status=501)


def logout_view(request, *args, **kwargs):
    return HttpResponse("logout_view: being built", status=501)


def password_change(request, *args, **kwargs):
    return HttpResponse("password_change: being built", status=501)


def password_reset(request, *args, **kwargs):
    return HttpResponse("password_reset: being built", status=501)


def password_reset_complete(request, *args, **kwargs):
    return HttpResponse("password_reset_complete: being built", status=501)


def password_reset_confirm(request, *args, **kwargs):
    return HttpResponse("password_reset_confirm: being built", status=501)


def password_reset_done(request, *args, **kwargs):
    return HttpResponse("password_reset_done: being built", status=501)


def recovery_codes_regenerate(request, *args, **kwargs):
    return HttpResponse("recovery_codes_regenerate: being built", status=501)


def session_end(request, *args, **kwargs):
    return HttpResponse("session_end: being built", status=501)


def signup(request, *args, **kwargs):
    return HttpResponse("signup: being built", status=501)


def totp_disable(request, *args, **kwargs):
    return HttpResponse("totp_disable: being built", status=501)


def totp_enrol(request, *args, **kwargs):
    return HttpResponse("totp_enrol: being built", status=501)


def verify_email(request, *args, **kwargs):
    return HttpResponse("verify_email: being built", status=501)


def verify_email_resend(request, *args, **kwargs):
    return HttpResponse("verify_email_resend: being built", status=501)


def verify_email_sent(request, *args, **kwargs):
    return HttpResponse("verify_email_sent: being built", status=501)
