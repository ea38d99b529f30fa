"""RFC 9457 problem documents for every API error.

Each error has a stable `type` URI under /problems/, a short `title` that never
changes for that type, a `detail` for this occurrence, the `status`, the
`request_id`, and for validation failures the per-field `errors`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from portal.request_context import request_id_var

PROBLEM_CONTENT_TYPE = "application/problem+json"

# status code -> (type slug, title)
_TITLES: dict[int, tuple[str, str]] = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("unprocessable", "Unprocessable request"),
    429: ("rate-limited", "Too many requests"),
    500: ("server-error", "Internal server error"),
    503: ("unavailable", "Service unavailable"),
}


# Every problem type we emit, with what it means for the caller; /problems/<slug> shows these.
PROBLEM_TYPES: dict[str, str] = dict(_TITLES.values()) | {
    "validation-error": "Your request has invalid fields",
}
PROBLEM_HELP: dict[str, str] = {
    "bad-request": "The request could not be parsed. Check the JSON body and headers.",
    "unauthenticated": "Send a credential in `Authorization: Bearer ...` or `X-API-Key`.",
    "forbidden": "The credential is valid but may not do this (a missing scope or role).",
    "not-found": "No such object, or it belongs to another organisation.",
    "method-not-allowed": "The resource does not support this HTTP method.",
    "not-acceptable": "The API answers JSON only.",
    "conflict": "The request conflicts with the current state of the object.",
    "unsupported-media-type": "Send `Content-Type: application/json`.",
    "unprocessable": "The request is well-formed but cannot be carried out.",
    "rate-limited": "Too many requests; wait for `Retry-After` seconds.",
    "server-error": "Something failed on our side; quote the `request_id` to support.",
    "unavailable": "A dependency is down; retry later.",
    "validation-error": "One or more fields failed validation; `errors` maps each field to its messages.",
}


def register_problem_type(slug: str, title: str, help_text: str) -> None:
    """Apps declare their own problem types (e.g. `key-revoked`) so /problems/ documents them."""
    PROBLEM_TYPES[slug] = title
    PROBLEM_HELP[slug] = help_text


def problem_type(slug: str) -> str:
    return f"{settings.PORTAL_BASE_URL.rstrip('/')}/problems/{slug}"


def problem_body(
    *,
    status_code: int,
    detail: str,
    slug: str | None = None,
    title: str | None = None,
    errors: dict[str, list[str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    default_slug, default_title = _TITLES.get(status_code, ("error", "Error"))
    body: dict[str, Any] = {
        "type": problem_type(slug or default_slug),
        "title": title or default_title,
        "status": status_code,
        "detail": detail,
        "request_id": request_id_var.get(),
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    return body


def problem_response(*, status_code: int, detail: str, headers: dict[str, str] | None = None, **kwargs: Any):
    """A problem document for plain Django views (outside DRF)."""
    response = JsonResponse(problem_body(status_code=status_code, detail=detail, **kwargs), status=status_code)
    response["Content-Type"] = PROBLEM_CONTENT_TYPE
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _flatten_errors(data: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as {"field.sub": ["message", ...]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            name = "" if key == "non_field_errors" else str(key)
            path = f"{prefix}.{name}" if prefix and name else (prefix or name or "__all__")
            for k, v in _flatten_errors(value, path).items():
                flat.setdefault(k, []).extend(v)
    elif isinstance(data, list):
        if all(not isinstance(item, (dict, list)) for item in data):
            flat[prefix or "__all__"] = [str(item) for item in data]
        else:
            for index, item in enumerate(data):
                for k, v in _flatten_errors(item, f"{prefix}[{index}]").items():
                    flat.setdefault(k, []).extend(v)
    else:
        flat[prefix or "__all__"] = [str(data)]
    return flat


class ProblemException(exceptions.APIException):
    """Raise from a view or service to answer with a specific problem type."""

    def __init__(self, *, status_code: int, detail: str, slug: str, title: str, errors=None, headers=None):
        super().__init__(detail=detail)
        self.status_code = status_code
        self.slug = slug
        self.title = title
        self.errors = errors
        self.headers = headers or {}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error leaves as application/problem+json."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("No such object, or it belongs to another organisation.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: let Django's 500 handling log it

    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, ProblemException):
        body = problem_body(
            status_code=exc.status_code, detail=str(exc.detail), slug=exc.slug, title=exc.title, errors=exc.errors
        )
        headers.update(exc.headers)
    elif isinstance(exc, exceptions.ValidationError):
        errors = _flatten_errors(exc.detail)
        body = problem_body(
            status_code=status.HTTP_400_BAD_REQUEST,
            slug="validation-error",
            title="Your request has invalid fields",
            detail="; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items()),
            errors=errors,
        )
    else:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        body = problem_body(status_code=exc.status_code, detail=detail)

    response = Response(body, status=body["status"], headers=headers, content_type=PROBLEM_CONTENT_TYPE)
    return response
