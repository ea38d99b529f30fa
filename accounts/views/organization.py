"""PLACEHOLDER module: being written now; every function here is replaced."""

from django.http import HttpResponse


def audit_log(request, *args, **kwargs):
    return HttpResponse("audit_log: being built", status=501)


def invitation_accept(request, *args, **kwargs):
    return HttpResponse("invitation_accept: being built", status=501)


def invitation_revoke(request, *args, **kwargs):
    return HttpResponse("invitation_revoke: being built", status=501)


def member_remove(request, *args, **kwargs):
    return HttpResponse("member_remove: being built", status=501)


def member_update(request, *args, **kwargs):
    return HttpResponse("member_update: being built", status=501)


def members(request, *args, **kwargs):
    return HttpResponse("members: being built", status=501)


def organization_create(request, *args, **kwargs):
    return HttpResponse("organization_create: being built", status=501)


def organization_leave(request, *args, **kwargs):
    return HttpResponse("organization_leave: being built", status=501)


def organization_settings(request, *args, **kwargs):
    return HttpResponse("organization_settings: being built", status=501)


def organization_switch(request, *args, **kwargs):
    return HttpResponse("organization_switch: being built", status=501)


def ownership_transfer(request, *args, **kwargs):
    return HttpResponse("ownership_transfer: being built", status=501)


def partner_profile(request, *args, **kwargs):
    return HttpResponse("partner_profile: being built", status=501)


def role_create(request, *args, **kwargs):
    return HttpResponse("role_create: being built", status=501)


def role_delete(request, *args, **kwargs):
    return HttpResponse("role_delete: being built", status=501)


def role_edit(request, *args, **kwargs):
    return HttpResponse("role_edit: being built", status=501)


def roles(request, *args, **kwargs):
    return HttpResponse("roles: being built", status=501)


def security_policy(request, *args, **kwargs):
    return HttpResponse("security_policy: being built", status=501)
