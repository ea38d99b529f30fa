from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.decorators import org_member_required
from portal.health import CHECKS
from portal.problems import problem_response


def home(request):
    if request.user.is_authenticated and request.GET.get("landing") is None:
        return redirect("portal:dashboard")
    return render(request, "portal/home.html")


@org_member_required
def dashboard(request):
    return render(request, "portal/dashboard.html")


@require_GET
@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request):
    results = {name: check() for name, check in CHECKS.items()}
    failing = {name: reason for name, reason in results.items() if reason}
    body = {
        "status": "ok" if not failing else "unavailable",
        "checks": {name: ("ok" if not reason else f"failing: {reason}") for name, reason in results.items()},
    }
    if failing:
        body["failing"] = sorted(failing)
    return JsonResponse(body, status=503 if failing else 200)


def _wants_problem(request) -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/oauth/")


def page_not_found(request, exception):
    if _wants_problem(request):
        return problem_response(status_code=404, detail="No such resource.")
    return render(request, "404.html", status=404)


def permission_denied(request, exception):
    if _wants_problem(request):
        return problem_response(status_code=403, detail=str(exception) or "You may not do this.")
    return render(request, "403.html", {"reason": str(exception)}, status=403)


def server_error(request):
    if _wants_problem(request):
        return problem_response(status_code=500, detail="Something went wrong on our side. Quote the request id.")
    return render(request, "500.html", status=500)


def bad_request(request, exception):
    if _wants_problem(request):
        return problem_response(status_code=400, detail="The request could not be understood.")
    return render(request, "400.html", status=400)


def csrf_failure(request, reason=""):
    return render(request, "403_csrf.html", {"reason": reason}, status=403)


def problem_types(request, slug: str | None = None):
    """Human documentation for the `type` URIs in API problem documents."""
    from portal.problems import PROBLEM_HELP, PROBLEM_TYPES

    if slug is not None and slug not in PROBLEM_TYPES:
        return render(request, "404.html", status=404)
    types = [
        {"slug": key, "title": title, "help": PROBLEM_HELP.get(key, "")} for key, title in sorted(PROBLEM_TYPES.items())
    ]
    return render(request, "portal/problems.html", {"types": types, "selected": slug})
