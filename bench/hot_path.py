"""Hot-path figures: prints numbers, never fails. Not part of the test suite.

    .venv/bin/python bench/hot_path.py [--requests 2000]
    DATABASE_URL=... REDIS_URL=... .venv/bin/python bench/hot_path.py   # services profile

In-process (Django's test client, no sockets), side by side in one run:
1. a bare Django view, a plain DRF view, our full path (key auth, rate limit, scope
   check, capture) and a straightforward composition (ORM key lookup + HMAC + a log
   row inserted per request): requests per second and p99;
2. key verification alone (`authenticate_key` with the key cached): median and p99;
3. limiter exactness (services profile only): 32 threads on 2 processes against a
   limit of N; requests admitted above N.
The gunicorn + wrk comparison of issue 3 is a separate, later script.
"""

from __future__ import annotations

import argparse
import hmac
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ["APIKEY_CAPTURE_BACKGROUND"] = "false"
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"  # key notices are sent inline, not left in a broker
if not os.environ.get("DATABASE_URL"):
    os.environ.setdefault("PORTAL_VAR_DIR", tempfile.mkdtemp(prefix="portal-bench-"))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from accounts.models import Membership, Organization, Plan, User  # noqa: E402
from apikeys.authentication import authenticate_key, key_cache  # noqa: E402
from apikeys.conf import pepper_ring  # noqa: E402
from apikeys.models import ApiKey, RequestLog  # noqa: E402
from apikeys.ratelimit import Tier, limiter  # noqa: E402
from apikeys.services import apikey_create  # noqa: E402
from portal.api import PortalAPIView  # noqa: E402
from portal.lib import keys as keyfmt  # noqa: E402


def bare(request):
    return JsonResponse({"ok": True})


class PlainDRF(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def get(self, request):
        return Response({"ok": True})


class OurPath(PortalAPIView):
    required_scopes = ("payments:read",)

    def get(self, request):
        return Response({"ok": True})


class NaiveComposition(APIView):
    """What a first version usually looks like: a query, a hash check and an insert per request."""

    authentication_classes: list = []
    permission_classes: list = []

    def get(self, request):
        parsed = keyfmt.parse_key(request.headers["Authorization"].removeprefix("Bearer "))
        key = ApiKey.objects.select_related("organization").get(lookup_id=parsed.lookup_id)
        if not hmac.compare_digest(keyfmt.digest(parsed.secret, pepper_ring().get(key.pepper_version)), key.digest):
            return Response(status=401)
        RequestLog.objects.create(
            organization=key.organization, api_key=key, route="/naive", method="GET", status=200, latency_ms=0
        )
        return Response({"ok": True})


urlpatterns = [
    path("bare", bare),
    path("drf", PlainDRF.as_view()),
    path("ours", OurPath.as_view()),
    path("naive", NaiveComposition.as_view()),
]


def measure(client: Client, url: str, n: int, headers: dict) -> tuple[float, float]:
    for _ in range(min(50, n)):
        client.get(url, **headers)
    timings = []
    started = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        response = client.get(url, **headers)
        timings.append(time.perf_counter() - t0)
        assert response.status_code == 200, (url, response.status_code, response.content[:200])
    elapsed = time.perf_counter() - started
    timings.sort()
    return n / elapsed, timings[int(len(timings) * 0.99) - 1] * 1000


def _hammer(prefix: str, limit: int, attempts: int, results) -> None:
    limiter.prefix = prefix
    admitted = []

    def worker():
        tier = [Tier("key", "bench-exact", limit, 3600)]
        for _ in range(attempts):
            admitted.append(limiter.check(tiers=tier, cost=1, subject="bench", lookup_id=None).allowed)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(sum(admitted))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    n = parser.parse_args().requests

    call_command("migrate", verbosity=0)
    limiter.prefix = f"bench{os.getpid()}:"
    plan = Plan.objects.create(code=f"bench-{os.getpid()}", name="Bench", requests_per_hour=10**9, burst=0)
    user = User.objects.create_user(f"bench-{os.getpid()}@bench.invalid", password=None)
    org = Organization.objects.create(name="Bench", slug=f"bench-{os.getpid()}", plan=plan)
    membership = Membership.objects.create(user=user, organization=org, role="owner")
    try:
        _, secret = apikey_create(
            organization=org, actor_membership=membership, name="bench", environment="test", scopes=["payments:read"]
        )
        headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}", "REMOTE_ADDR": "127.0.0.1"}
        from django.conf import settings

        print(f"profile: {'services' if settings.SERVICES_PROFILE else 'embedded'}, {n} requests per view")
        with override_settings(ROOT_URLCONF=__name__, APIKEY_IP_REQUESTS_PER_MINUTE=10**9):
            client = Client()
            results = {name: measure(client, f"/{name}", n, headers) for name in ("bare", "drf", "ours", "naive")}
        base = results["drf"][0]
        for name, (rps, p99) in results.items():
            print(f"  {name:6} {rps:8.0f} req/s  p99 {p99:6.2f} ms  {rps / base:5.2f}x plain DRF")

        key_cache.clear()
        authenticate_key(secret, ip=None)
        samples = []
        for _ in range(20_000):
            t0 = time.perf_counter_ns()
            authenticate_key(secret, ip=None)
            samples.append(time.perf_counter_ns() - t0)
        samples.sort()
        print(
            f"key verification (cached): median {statistics.median(samples) / 1000:.1f} µs, "
            f"p99 {samples[int(len(samples) * 0.99)] / 1000:.1f} µs"
        )

        if limiter.redis is not None:
            from django.db import connections

            connections.close_all()
            limit, ctx = 500, multiprocessing.get_context("fork")
            queue = ctx.Queue()
            procs = [ctx.Process(target=_hammer, args=(limiter.prefix, limit, 40, queue)) for _ in range(2)]
            for p in procs:
                p.start()
            admitted = sum(queue.get(timeout=120) for _ in procs)
            for p in procs:
                p.join()
            print(f"limiter exactness: 2 processes x 16 threads, limit {limit}: admitted {admitted - limit:+d} over")
        else:
            print("limiter exactness: needs REDIS_URL (skipped)")
    finally:
        if limiter.redis is not None:
            client = limiter.redis.client
            names = list(client.scan_iter(match=f"{limiter.prefix}*"))
            if names:
                client.delete(*names)
        RequestLog.objects.filter(organization=org).delete()
        org.delete()
        user.delete()
        plan.delete()


if __name__ == "__main__":
    main()
