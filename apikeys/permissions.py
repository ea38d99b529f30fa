"""The scope check: every API view declares the scopes it needs."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from apikeys.authentication import KeyContext
from portal.problems import ProblemException


def required_scopes_for(view, method: str) -> tuple[str, ...]:
    """`required_scopes` is a tuple for every method, or a dict of method -> tuple."""
    declared = getattr(view, "required_scopes", ())
    if isinstance(declared, dict):
        return tuple(declared.get(method.upper(), declared.get("*", ())))
    return tuple(declared)


class HasScopes(BasePermission):
    """A key needs every required scope; a signed-in member needs the same permissions."""

    def has_permission(self, request, view) -> bool:
        needed = required_scopes_for(view, request.method)
        auth = request.auth
        if isinstance(auth, KeyContext):
            held = auth.scopes
            who = "This API key"
        else:
            user = request.user
            if not (user and user.is_authenticated):
                return False  # DRF turns this into a 401 problem
            membership = getattr(request._request, "membership", None)
            if not membership:
                raise ProblemException(
                    status_code=403,
                    detail="You are not a member of an organisation.",
                    slug="forbidden",
                    title="Forbidden",
                )
            held = membership.permissions
            who = "Your role"
        missing = [scope for scope in needed if scope not in held]
        if missing:
            raise ProblemException(
                status_code=403,
                detail=f"{who} lacks the scope {', '.join(missing)} needed for this request.",
                slug="insufficient-scope",
                title="Missing scope",
            )
        return True
