from django.conf import settings


def shell(request):
    """What the base layout needs on every page: the current membership and theme."""
    membership = getattr(request, "membership", None)
    user = getattr(request, "user", None)
    memberships = []
    if user is not None and user.is_authenticated:
        from accounts.selectors import membership_list_for_user

        memberships = membership_list_for_user(user=user)
    return {
        "current_membership": membership or None,
        "current_org": membership.organization if membership else None,
        "all_memberships": memberships,
        "theme": request.COOKIES.get("theme", "system") if hasattr(request, "COOKIES") else "system",
        "portal_name": settings.PORTAL_NAME,
    }
