"""The views the HTTP benchmark compares, served side by side by one gunicorn.

Every view returns the same small JSON body behind the portal's full middleware stack
(bench.settings), so the differences are the request path alone.
"""

import os
import time

from django.http import JsonResponse
from django.urls import path
from django.utils.decorators import method_decorator
from django_ratelimit.decorators import ratelimit
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView
from rest_framework_api_key.permissions import HasAPIKey

from bench.models import PeerRequestLog
from portal.api import PortalAPIView

BODY = {"ok": True, "service": "bench"}
# The limit of the exactness test; http_hot_path.py passes the same N to gunicorn.
LIMIT_PER_HOUR = int(os.environ.get("BENCH_LIMIT_PER_HOUR", "200"))
# django-ratelimit on the peer stack: counted in Redis on every request, never refusing
# during the load runs (the throughput runs measure the cost of the check, not 429s).
PEER_RATE = "100000000/h"


def bare(request):
    return JsonResponse(BODY)


class PlainDRF(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []

    def get(self, request):
        return Response(BODY)


class OurPath(PortalAPIView):
    """Key authentication, rate limit, scope check and capture: the base class of every API view."""

    required_scopes = ("payments:read",)

    def get(self, request):
        return Response(BODY)


class PeerStack(APIView):
    """What a Django user would otherwise assemble: HasAPIKey, django-ratelimit, a log row per request."""

    authentication_classes: list = []
    permission_classes = [HasAPIKey]
    throttle_classes: list = []

    @method_decorator(ratelimit(key="header:authorization", rate=PEER_RATE, block=True))
    def get(self, request):
        started = time.perf_counter()
        response = Response(BODY)
        PeerRequestLog.objects.create(
            key_prefix=request.META.get("HTTP_AUTHORIZATION", "").removeprefix("Api-Key ").partition(".")[0][:16],
            route=request.path[:200],
            method=request.method,
            status=response.status_code,
            latency_ms=int((time.perf_counter() - started) * 1000),
            ip=request.META.get("REMOTE_ADDR") or None,
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:400],
        )
        return response


class BenchAnonThrottle(AnonRateThrottle):
    scope = "bench"
    rate = f"{LIMIT_PER_HOUR}/hour"


class DRFThrottled(APIView):
    """DRF's built-in throttle (its history in the Django cache, Redis here) at the same N per hour."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes = [BenchAnonThrottle]

    def get(self, request):
        return Response(BODY)


urlpatterns = [
    path("bare", bare),
    path("drf", PlainDRF.as_view()),
    path("ours", OurPath.as_view()),
    path("peer", PeerStack.as_view()),
    path("drf-throttled", DRFThrottled.as_view()),
]
