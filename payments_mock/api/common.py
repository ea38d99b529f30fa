"""Pieces shared by the sandbox API views: schema parameters, input validation, lookups."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions

from portal.api import PROBLEM, PortalAPIView, service_errors  # noqa: F401 - re-exported to the views

ERRORS = {400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM}
IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Replays the first answer for 24 h; the same key with a different body is a 422.",
)
LIST_PARAMETERS = [
    OpenApiParameter("page", int),
    OpenApiParameter("per_page", int, description="At most 100."),
    OpenApiParameter("fields", str, description="Comma-separated fields to return."),
]


def sort_parameter(fields: str) -> OpenApiParameter:
    return OpenApiParameter("sort", str, description=f"{fields}, each with :asc or :desc.")


def valid(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def related(getter, owner, public_id: str | None, field: str):
    """Look up an object named in a request body; unknown ids are a field error, not a 404."""
    if not public_id:
        return None
    try:
        return getter(owner=owner, public_id=public_id)
    except Http404:
        raise exceptions.ValidationError({field: [f"No such object: {public_id}."]}) from None


class SandboxAPIView(PortalAPIView):
    """PortalAPIView plus one guard: a NUL byte in the query string is a 400, not a database error."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        bad = sorted({name for name, value in request.query_params.lists() if any("\x00" in v for v in value)})
        if bad:
            raise exceptions.ValidationError(
                {name: ["Query parameters cannot contain NUL characters."] for name in bad}
            )
