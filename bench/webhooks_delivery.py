"""Webhook deliveries to a local receiver: prints figures, never fails.

    .venv/bin/python bench/webhooks_delivery.py [--events 1000] [--endpoints 3] [--rate 40] [--seconds 10]

Needs PostgreSQL and Redis on loopback (`--postgres`, `--redis`; defaults are this
machine's services). It creates and migrates a dedicated database
(`portal_bench_webhooks`, dropped afterwards), uses a spare Redis database (13, emptied
before and after) as broker and cache, starts a receiver process on a free loopback port
and a Celery worker with 2 processes, plays beat itself (the dispatcher every second,
as `dispatch_due_deliveries`), and measures side by side in one run (issue 5):

1. throughput: `--events` events to `--endpoints` endpoints recorded at once (the
   1,000 x 3 run of the issue), deliveries per second from the first event to the last
   success, checked: every (event, endpoint) arrived, signatures valid, no webhook-id
   twice per endpoint beyond recorded attempts;
2. latency: events recorded at a steady `--rate` per second for `--seconds`, event
   (`Event.created_at`) to first attempt (`Attempt.started_at`), p50 and p99;
3. the ceiling: a plain loop of signed POSTs over one keep-alive `http.client`
   connection to the same receiver.

Everything stays on 127.0.0.1, every phase is bounded, the worker and the receiver run
in their own process groups and are stopped in a `finally`. Exit code 0 always.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from bench.http_hot_path import _loopback_only, drop_database, free_port, recreate_database  # noqa: E402

TARGET_VS_CEILING = 0.5
TARGET_RATE = 200.0
TARGET_P99_S = 1.0
PHASE_TIMEOUT = 300.0


# ---- the receiver (its own process, so it never shares a GIL with the measured side) --------


def serve_receiver(port: int) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    got: list[tuple[str, str, float]] = []  # path, webhook-id, arrival (epoch seconds)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive for the pooled client
        # The status line and headers, then the body, are two writes: without TCP_NODELAY,
        # Nagle holds the body for the client's delayed ACK (40 ms per request).
        disable_nagle_algorithm = True

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                got.append((self.path, self.headers.get("webhook-id", ""), time.time()))
            self._answer(b"ok")

        def do_GET(self):  # /dump: what arrived since the last /dump
            with lock:
                body = json.dumps(got).encode()
                got.clear()
            self._answer(body)

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


class Proc:
    """A child in its own process group; `stop()` ends the group, whatever happened."""

    def __init__(self, argv: list[str], *, env: dict[str, str], log_path: Path):
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.log_path = log_path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""


def dump(port: int) -> list:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/dump")
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def wait_port(port: int, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


# ---- the ceiling ----------------------------------------------------------------------------


def ceiling(port: int, count: int, body: bytes, headers: dict[str, str]) -> tuple[float, float, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    latencies = []
    started = time.perf_counter()
    try:
        for _ in range(count):
            t = time.perf_counter()
            conn.request("POST", "/ceiling", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"the receiver answered {response.status}")
            latencies.append(time.perf_counter() - t)
    finally:
        conn.close()
    elapsed = time.perf_counter() - started
    return count / elapsed, pct(latencies, 50) * 1000, pct(latencies, 99) * 1000


# ---- the pipeline ---------------------------------------------------------------------------


class Beat(threading.Thread):
    """The dispatcher every second, as beat runs `dispatch_due_deliveries`."""

    def __init__(self):
        super().__init__(daemon=True)
        self.halt = threading.Event()

    def run(self):
        from django.db import connections

        from webhooks.tasks import dispatch_due_deliveries

        try:
            while not self.halt.wait(1.0):
                try:
                    dispatch_due_deliveries()
                except Exception as exc:
                    print(f"webhooks_delivery: dispatcher error: {exc}", flush=True)
        finally:
            connections.close_all()


def wait_done(expected: int, since, worker: Proc) -> None:
    from webhooks.models import Delivery

    end = time.monotonic() + PHASE_TIMEOUT
    while time.monotonic() < end:
        if Delivery.objects.filter(created_at__gte=since, status="succeeded").count() >= expected:
            return
        if worker.process.poll() is not None:
            raise RuntimeError(f"the worker exited:\n{worker.tail()}")
        time.sleep(0.1)
    raise RuntimeError(f"{expected} deliveries not done within {PHASE_TIMEOUT:.0f} s:\n{worker.tail()}")


def record(org, count: int, per_transaction: int = 50) -> list:
    from django.db import transaction

    from webhooks import services

    events = []
    data = {"id": "pay_bench", "amount": 100, "currency": "EUR", "status": "succeeded"}
    while len(events) < count:
        with transaction.atomic():
            for _ in range(min(per_transaction, count - len(events))):
                events.append(
                    services.event_record(organization=org, livemode=False, type="payment.succeeded", data=dict(data))
                )
    return events


def check_burst(org, arrived: list, endpoints: list, events: list) -> str:
    from collections import Counter

    from webhooks.models import Delivery

    seen = Counter((path, wid) for path, wid, _ in arrived)
    paths = {e.pk: f"/hook/{i}" for i, e in enumerate(endpoints)}
    attempts = {
        (paths[d.endpoint_id], d.webhook_id): d.attempt_count for d in Delivery.objects.filter(event__in=events)
    }
    problems = []
    if set(seen) != set(attempts):
        problems.append(f"{len(set(attempts) - set(seen))} (event, endpoint) pairs never arrived")
    over = sum(1 for key, n in seen.items() if n > attempts.get(key, 0))
    if over:
        problems.append(f"{over} webhook-ids arrived more often than their recorded attempts")
    dup = sum(n - 1 for n in seen.values() if n > 1)
    return "; ".join(problems) or f"all {len(attempts)} arrived, {dup} repeats (all within recorded retries)"


def verify_signatures(endpoints: list, sample: int) -> str:
    """The official `standardwebhooks` package verifies what a delivery sent (recorded attempts)."""
    from standardwebhooks.webhooks import Webhook

    from webhooks.models import Attempt

    checked = 0
    for endpoint in endpoints:
        hook = Webhook(endpoint.secret)
        for attempt in Attempt.objects.filter(delivery__endpoint=endpoint).order_by("?")[:sample]:
            headers = {k.lower(): v for k, v in attempt.request_headers.items()}
            hook.verify(attempt.request_body.encode(), headers)
            checked += 1
    return f"{checked} sampled signatures verified with standardwebhooks"


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--receiver":
        serve_receiver(int(sys.argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432", help="server URL, no database")
    parser.add_argument("--database", default="portal_bench_webhooks", help="created for the run, dropped after it")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="a Redis database only for this")
    parser.add_argument("--events", type=int, default=1000, help="events of the throughput run (max 5000)")
    parser.add_argument("--endpoints", type=int, default=3)
    parser.add_argument("--rate", type=float, default=10.0, help="events per second of the latency run")
    parser.add_argument("--seconds", type=int, default=10, help="length of the latency run (max 60)")
    args = parser.parse_args()
    args.events = max(1, min(args.events, 5000))
    args.endpoints = max(1, min(args.endpoints, 10))
    args.seconds = max(1, min(args.seconds, 60))
    args.rate = max(1.0, min(args.rate, 500.0))

    _loopback_only(args.postgres, "PostgreSQL")
    _loopback_only(args.redis, "Redis")
    import redis

    redis_client = redis.Redis.from_url(args.redis, socket_connect_timeout=2)
    if redis_client.connection_pool.connection_kwargs.get("db", 0) == 0 or args.redis == os.environ.get("REDIS_URL"):
        raise SystemExit(f"--redis must name a Redis database used only by the benchmark, not {args.redis}")
    try:
        redis_client.ping()
        database_url = recreate_database(args.postgres, args.database)
    except Exception as exc:
        print(f"webhooks_delivery: PostgreSQL or Redis is not usable ({exc}); skipped.")
        return 0

    var_dir = Path(tempfile.mkdtemp(prefix="portal-webhooks-bench-"))
    queue = f"wh-bench-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DJANGO_DEBUG": "false",
        "DATABASE_URL": database_url,
        "REDIS_URL": args.redis,
        "CELERY_BROKER_URL": args.redis,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "WEBHOOKS_ALLOW_PRIVATE_URLS": "true",
        "PORTAL_VAR_DIR": str(var_dir),
        "LOG_LEVEL": "warning",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from portal.celery import app as celery_app
    from portal.lib import webhook_signing
    from tests.factories import make_org
    from webhooks import services
    from webhooks.models import Attempt, Delivery

    celery_app.conf.task_default_queue = queue
    receiver_port = free_port()
    receiver = worker = None
    beat = Beat()
    figures: dict = {}
    try:
        print(f"webhooks_delivery: migrating {args.database} ...", flush=True)
        call_command("migrate", verbosity=0)
        redis_client.flushdb()
        receiver = Proc(
            [sys.executable, str(Path(__file__).resolve()), "--receiver", str(receiver_port)],
            env=env,
            log_path=var_dir / "receiver.log",
        )
        wait_port(receiver_port)
        celery = str(Path(sys.executable).with_name("celery"))
        worker = Proc(
            [celery, "-A", "portal", "worker", "-Q", queue, "-c", "2", "-l", "warning",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{queue}@%h"],
            env=env, log_path=var_dir / "worker.log",
        )  # fmt: skip
        org = make_org(f"Bench {os.getpid()}")
        url = f"http://127.0.0.1:{receiver_port}/hook"
        endpoints = [
            services.endpoint_create(organization=org, actor=None, livemode=False, url=f"{url}/{i}")
            for i in range(args.endpoints)
        ]
        beat.start()

        # Warm-up: the worker's processes connect and import everything.
        since = services.timezone.now()
        record(org, 5)
        wait_done(5 * args.endpoints, since, worker)
        dump(receiver_port)

        # 1. Throughput: everything at once.
        print(f"webhooks_delivery: {args.events} events x {args.endpoints} endpoints ...", flush=True)
        load_before = os.getloadavg()
        since = services.timezone.now()
        started = time.perf_counter()
        events = record(org, args.events)
        record_s = time.perf_counter() - started
        expected = args.events * args.endpoints
        wait_done(expected, since, worker)
        burst_s = time.perf_counter() - started
        figures["burst"] = {
            "deliveries": expected,
            "seconds": burst_s,
            "rate": expected / burst_s,
            "record_s": record_s,
            "check": check_burst(org, dump(receiver_port), endpoints, events),
            "signatures": verify_signatures(endpoints, 100),
            "attempts": Attempt.objects.filter(delivery__event__in=events).count(),
        }

        # 2. Latency at a steady rate below capacity.
        count = int(args.rate * args.seconds)
        print(f"webhooks_delivery: {count} events at {args.rate:g}/s ...", flush=True)
        since = services.timezone.now()
        started = time.perf_counter()
        for i in range(count):
            pause = started + i / args.rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            record(org, 1)
        wait_done(count * args.endpoints, since, worker)
        arrived = {(path, wid): t for path, wid, t in dump(receiver_port)}
        lat, arrival = [], []
        for d in Delivery.objects.filter(created_at__gte=since).select_related("event"):
            first = Attempt.objects.filter(delivery=d, number=1).values_list("started_at", flat=True).first()
            lat.append((first - d.event.created_at).total_seconds())
            key = (f"/hook/{[e.pk for e in endpoints].index(d.endpoint_id)}", d.webhook_id)
            if key in arrived:
                arrival.append(arrived[key] - d.event.created_at.timestamp())
        figures["latency"] = {
            "events": count,
            "p50": pct(lat, 50),
            "p99": pct(lat, 99),
            "max": max(lat),
            "arrival_p50": pct(arrival, 50),
            "arrival_p99": pct(arrival, 99),
        }
        beat.halt.set()
        beat.join(5)
        worker.stop()

        # 3. The ceiling: the same body and signed headers, one pooled keep-alive connection.
        body = b'{"id":"evt_x","type":"payment.succeeded","data":' + json.dumps({"id": "pay_bench"}).encode() + b"}"
        body += b" " * max(0, 260 - len(body))
        signed = webhook_signing.headers(
            secrets=[endpoints[0].secret], msg_id="msg_ceiling", timestamp=int(time.time()), body=body
        )
        hdrs = {"Content-Type": "application/json", **signed}
        rate, p50_ms, p99_ms = ceiling(receiver_port, expected, body, hdrs)
        figures["ceiling"] = {"rate": rate, "p50_ms": p50_ms, "p99_ms": p99_ms, "requests": expected}
        figures["load"] = (load_before, os.getloadavg())
    except Exception:
        print("webhooks_delivery: the run failed:")
        traceback.print_exc()
        if worker is not None:
            print(worker.tail())
        return 0
    finally:
        beat.halt.set()
        for proc in (worker, receiver):
            if proc is not None:
                proc.stop()
        with contextlib.suppress(Exception):  # the Redis database is emptied just below anyway
            celery_app.connection_for_write().default_channel.queue_delete(queue)
        connections.close_all()
        for cleanup in (redis_client.flushdb, lambda: drop_database(args.postgres, args.database)):
            try:
                cleanup()
            except Exception as exc:
                print(f"webhooks_delivery: cleanup failed: {exc}")

    report(figures, args)
    return 0


def report(f: dict, args) -> None:
    burst, lat, ceil = f["burst"], f["latency"], f["ceiling"]
    ratio = burst["rate"] / ceil["rate"]

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    print()
    print(f"webhooks_delivery ({os.cpu_count()} cores, 2 worker processes, loopback receiver)")
    print(f"  {'path':<44} {'deliveries/s':>13} {'p50':>10} {'p99':>10}")
    print(
        f"  {'pipeline (event -> first attempt)':<44} {burst['rate']:>13,.0f} "
        f"{lat['p50'] * 1000:>8.1f}ms {lat['p99'] * 1000:>8.1f}ms"
    )
    print(
        f"  {'pipeline (event -> arrival at receiver)':<44} {'':>13} "
        f"{lat['arrival_p50'] * 1000:>8.1f}ms {lat['arrival_p99'] * 1000:>8.1f}ms"
    )
    print(
        f"  {'ceiling: keep-alive http.client POST loop':<44} {ceil['rate']:>13,.0f} "
        f"{ceil['p50_ms']:>8.2f}ms {ceil['p99_ms']:>8.2f}ms"
    )
    print(
        f"  throughput run: {burst['deliveries']} deliveries ({args.events} events x {args.endpoints} endpoints) "
        f"in {burst['seconds']:.1f} s (recording took {burst['record_s']:.1f} s); {burst['attempts']} attempts"
    )
    print(f"  check: {burst['check']}; {burst['signatures']}")
    print(
        f"  latency run: {lat['events']} events at {args.rate:g}/s x {args.endpoints}; max {lat['max'] * 1000:.0f} ms"
    )
    before, after = (", ".join(f"{x:.2f}" for x in load) for load in f["load"])
    print(f"  load average before {before}; after {after}")
    print()
    print(f"  {verdict(ratio >= TARGET_VS_CEILING)}  pipeline / ceiling >= {TARGET_VS_CEILING}: {ratio:.2f}x")
    print(f"  {verdict(burst['rate'] >= TARGET_RATE)}  deliveries/s >= {TARGET_RATE:.0f}: {burst['rate']:,.0f}")
    print(f"  {verdict(lat['p99'] < TARGET_P99_S)}  p99 event -> first attempt < 1 s: {lat['p99'] * 1000:.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
