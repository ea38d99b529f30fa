"""Webhook deliveries to a local receiver: prints figures, never fails.

    .venv/bin/python bench/webhooks_delivery.py [--events 1000] [--endpoints 3] [--rate 10] [--seconds 10]
                                                [--receivers 2]

Needs PostgreSQL and Redis on loopback (`--postgres`, `--redis`; defaults are this
machine's services). It creates and migrates a dedicated database
(`portal_bench_webhooks`, dropped afterwards), uses a spare Redis database (13, emptied
before and after) as broker and cache, starts the receiver (`--receivers` processes
sharing one free loopback port through SO_REUSEPORT, each a threaded stdlib HTTP/1.1
server) and a Celery worker with 2 processes, plays beat itself (the dispatcher every
second, as `dispatch_due_deliveries`), and measures side by side in one run (issue 5):

1. throughput: `--events` events to `--endpoints` endpoints recorded at once, 50 per
   transaction (the 1,000 x 3 run of the issue), deliveries per second from just before
   the first event is recorded to the last delivery recorded as succeeded
   (`Delivery.completed_at`), checked: every (event, endpoint) arrived, signatures valid,
   no webhook-id twice per endpoint beyond recorded attempts;
2. latency: events recorded at a steady `--rate` per second for `--seconds`, event
   (`Event.created_at`) to first attempt (`Attempt.started_at`), p50 and p99;
3. the ceiling: a plain loop over one keep-alive `http.client` connection POSTing the
   very requests the throughput run sent (same paths, headers, signatures and bodies,
   read back from its attempts) to the same receiver; run twice (right after the
   throughput run, and at the end with the worker stopped), the faster run counts.

It also prints where the CPU went during the throughput run (the worker, the receiver,
this process as the application recording events, the database's backends, Redis, and
everything else on the machine) and how many SQL statements the recording and one send
batch take. Everything stays on 127.0.0.1, every phase is bounded, the worker and the
receiver run in their own process groups and are stopped in a `finally`. Exit code 0 always.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
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


# ---- the receiver (processes of its own, so it never shares a GIL with the measured side) ---


def serve_receiver(port: int, log_path: str) -> None:
    """One receiver process: a threaded HTTP/1.1 keep-alive server on a port it shares with
    its siblings (SO_REUSEPORT: the kernel spreads the connections over them). Each arrival
    is appended to this process's own log (path, webhook-id, arrival time) before the answer."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    lock = threading.Lock()
    log = None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive for the pooled clients
        # The status line and headers, then the body, are two writes: without TCP_NODELAY,
        # Nagle holds the body for the client's delayed ACK (40 ms per request).
        disable_nagle_algorithm = True

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            line = f"{self.path}\t{self.headers.get('webhook-id', '')}\t{time.time()}\n"
            with lock:
                log.write(line)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def server_bind(self):
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            super().server_bind()

    server = Server(("127.0.0.1", port), Handler)
    log = open(log_path, "a", buffering=1)  # noqa: SIM115  (open for the life of the process; its existence says "bound")
    server.serve_forever()


class Arrivals:
    """What the receiver processes logged since the last `take()`."""

    def __init__(self, paths: list[Path]):
        self.offsets = dict.fromkeys(paths, 0)

    def take(self) -> list[tuple[str, str, float]]:
        got = []
        for path, offset in self.offsets.items():
            if not path.exists():
                continue
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
            complete = data[: data.rfind(b"\n") + 1]
            self.offsets[path] = offset + len(complete)
            for line in complete.decode().splitlines():
                where, wid, at = line.split("\t")
                got.append((where, wid, float(at)))
        return got


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


def wait_receivers(port: int, logs: list[Path], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all(path.exists() for path in logs):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                return
        time.sleep(0.05)
    raise RuntimeError(f"the receivers did not all listen on 127.0.0.1:{port}")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


# ---- the ceiling ----------------------------------------------------------------------------


def ceiling(port: int, requests: list[tuple[str, dict[str, str], bytes]]) -> tuple[float, float, float]:
    """The same requests, one after the other over one keep-alive connection (a pooled client)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    latencies = []
    started = time.perf_counter()
    try:
        for path, headers, body in requests:
            t = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"the receiver answered {response.status}")
            latencies.append(time.perf_counter() - t)
    finally:
        conn.close()
    elapsed = time.perf_counter() - started
    return len(requests) / elapsed, pct(latencies, 50) * 1000, pct(latencies, 99) * 1000


def sent_requests(events: list) -> list[tuple[str, dict[str, str], bytes]]:
    """What the pipeline's first attempts sent for these events: path, headers, body."""
    from urllib.parse import urlsplit

    from webhooks.models import Attempt

    rows = Attempt.objects.filter(delivery__event__in=events, number=1).order_by("started_at", "pk")
    return [
        (urlsplit(url).path, headers, body.encode())
        for url, headers, body in rows.values_list("url", "request_headers", "request_body")
    ]


# ---- where the CPU goes -----------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(session id, CPU seconds) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[3]), (int(fields[11]) + int(fields[12])) / TICK


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values) - idle) / TICK, sum(values) / TICK


class CpuMeter:
    """CPU seconds per role between `start()` and `stop()`, read from /proc: the worker and
    receiver process groups, this process, the bench database's PostgreSQL backends, the
    Redis server (shared with other clients) and, by difference, everything else."""

    def __init__(self, *, worker_sessions: set[int], receiver_sessions: set[int], database: str):
        self.worker_sessions, self.receiver_sessions, self.database = worker_sessions, receiver_sessions, database

    def _backends(self) -> set[int]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.database])
            return {pid for (pid,) in cursor.fetchall()}

    def _snapshot(self) -> dict[int, tuple[str, float]]:
        backends = self._backends()
        roles = {}
        for pid in _all_pids():
            stat = _proc_stat(pid)
            if stat is None:
                continue
            session, cpu = stat
            if session in self.worker_sessions:
                role = "worker"
            elif session in self.receiver_sessions:
                role = "receiver"
            elif pid == os.getpid():
                role = "bench"
            elif pid in backends:
                role = "postgres"
            elif _comm(pid) == "redis-server":
                role = "redis"
            else:
                continue
            roles[pid] = (role, cpu)
        return roles

    def start(self) -> None:
        self.before, self.machine_before, self.wall = self._snapshot(), _machine_busy(), time.perf_counter()

    def stop(self) -> dict[str, float]:
        after, machine, wall = self._snapshot(), _machine_busy(), time.perf_counter() - self.wall
        used: dict[str, float] = {}
        for pid, (role, cpu) in after.items():
            used[role] = used.get(role, 0.0) + cpu - self.before.get(pid, (role, 0.0))[1]
        used["machine"] = machine[0] - self.machine_before[0]
        used["others"] = max(0.0, used["machine"] - sum(v for k, v in used.items() if k != "machine"))
        used["capacity"] = machine[1] - self.machine_before[1]
        used["wall"] = wall
        return used


class StatementCounter:
    """Counts the SQL statements this process sends (Django's execute wrapper)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


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


def wait_done(expected: int, since, worker: Proc):
    """Wait until `expected` deliveries created since `since` succeeded; the last one's completed_at."""
    from django.db.models import Count, Max

    from webhooks.models import Delivery

    end = time.monotonic() + PHASE_TIMEOUT
    while time.monotonic() < end:
        done = Delivery.objects.filter(created_at__gte=since, status="succeeded").aggregate(
            n=Count("pk"), last=Max("completed_at")
        )
        if done["n"] >= expected:
            return done["last"]
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


def one_batch_statements(org) -> tuple[int, int]:
    """SQL statements of one send batch (SEND_BATCH deliveries), made in this process; the
    worker is stopped by then, so these deliveries are still pending."""
    from django.db import connection

    from webhooks import services
    from webhooks.models import Attempt, Delivery

    events = record(org, services.SEND_BATCH, per_transaction=services.SEND_BATCH)
    ids = list(Delivery.objects.filter(event__in=events).values_list("pk", flat=True))[: services.SEND_BATCH]
    counter = StatementCounter()
    with connection.execute_wrapper(counter):
        services.deliveries_attempt(delivery_ids=ids, want_attempts=False)  # as the task calls it
    return counter.count, Attempt.objects.filter(delivery_id__in=ids).count()


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--receiver":
        serve_receiver(int(sys.argv[2]), sys.argv[3])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432", help="server URL, no database")
    parser.add_argument("--database", default="portal_bench_webhooks", help="created for the run, dropped after it")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="a Redis database only for this")
    parser.add_argument("--events", type=int, default=1000, help="events of the throughput run (max 5000)")
    parser.add_argument("--endpoints", type=int, default=3)
    parser.add_argument("--rate", type=float, default=10.0, help="events per second of the latency run")
    parser.add_argument("--seconds", type=int, default=10, help="length of the latency run (max 60)")
    parser.add_argument("--receivers", type=int, default=2, help="receiver processes sharing the port (max 8)")
    args = parser.parse_args()
    args.events = max(1, min(args.events, 5000))
    args.endpoints = max(1, min(args.endpoints, 10))
    args.seconds = max(1, min(args.seconds, 60))
    args.rate = max(1.0, min(args.rate, 500.0))
    args.receivers = max(1, min(args.receivers, 8))

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
    from django.db import connection, connections

    from portal.celery import app as celery_app
    from tests.factories import make_org
    from webhooks import services
    from webhooks.models import Attempt, Delivery

    celery_app.conf.task_default_queue = queue
    receiver_port = free_port()
    receivers: list[Proc] = []
    worker = None
    beat = Beat()
    figures: dict = {}
    try:
        print(f"webhooks_delivery: migrating {args.database} ...", flush=True)
        call_command("migrate", verbosity=0)
        redis_client.flushdb()
        logs = [var_dir / f"arrivals-{i}.log" for i in range(args.receivers)]
        for i, log in enumerate(logs):
            receivers.append(
                Proc(
                    [sys.executable, str(Path(__file__).resolve()), "--receiver", str(receiver_port), str(log)],
                    env=env,
                    log_path=var_dir / f"receiver-{i}.log",
                )
            )
        wait_receivers(receiver_port, logs)
        arrivals = Arrivals(logs)
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
        meter = CpuMeter(
            worker_sessions={worker.process.pid},
            receiver_sessions={r.process.pid for r in receivers},
            database=args.database,
        )

        # Warm-up: the worker's processes connect and import everything.
        since = services.timezone.now()
        record(org, 5)
        wait_done(5 * args.endpoints, since, worker)
        arrivals.take()

        # 1. Throughput: everything at once.
        print(f"webhooks_delivery: {args.events} events x {args.endpoints} endpoints ...", flush=True)
        load_before = os.getloadavg()
        counter = StatementCounter()
        meter.start()
        since = services.timezone.now()
        started = time.perf_counter()
        with connection.execute_wrapper(counter):
            events = record(org, args.events)
        record_s = time.perf_counter() - started
        expected = args.events * args.endpoints
        last = wait_done(expected, since, worker)
        cpu = meter.stop()
        burst_s = (last - since).total_seconds()
        figures["burst"] = {
            "deliveries": expected,
            "seconds": burst_s,
            "rate": expected / burst_s,
            "record_s": record_s,
            "record_statements": counter.count,
            "cpu": cpu,
            "check": check_burst(org, arrivals.take(), endpoints, events),
            "signatures": verify_signatures(endpoints, 100),
            "attempts": Attempt.objects.filter(delivery__event__in=events).count(),
        }
        requests = sent_requests(events)
        # The ceiling, once now (the worker idle) and once at the end (the worker stopped);
        # the ratio is taken against the faster of the two, the less flattering choice.
        meter.start()
        first_ceiling = ceiling(receiver_port, requests)
        first_ceiling_cpu = meter.stop()

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
        arrived = {(path, wid): t for path, wid, t in arrivals.take()}
        lat, arrival = [], []
        firsts = dict(
            Attempt.objects.filter(delivery__created_at__gte=since, number=1).values_list("delivery_id", "started_at")
        )
        for d in Delivery.objects.filter(created_at__gte=since).select_related("event"):
            lat.append((firsts[d.pk] - d.event.created_at).total_seconds())
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

        # 3. The ceiling: the very requests of the throughput run, one keep-alive connection.
        meter.start()
        runs = [(first_ceiling, first_ceiling_cpu), (ceiling(receiver_port, requests), meter.stop())]
        (rate, p50_ms, p99_ms), cpu_used = max(runs, key=lambda run: run[0][0])
        figures["ceiling"] = {
            "rate": rate,
            "p50_ms": p50_ms,
            "p99_ms": p99_ms,
            "requests": len(requests),
            "cpu": cpu_used,
            "runs": [run[0][0] for run in runs],
        }
        figures["load"] = (load_before, os.getloadavg())
        figures["batch_statements"] = one_batch_statements(org)
    except Exception:
        print("webhooks_delivery: the run failed:")
        traceback.print_exc()
        if worker is not None:
            print(worker.tail())
        return 0
    finally:
        beat.halt.set()
        for proc in (worker, *receivers):
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
    from webhooks import services

    burst, lat, ceil = f["burst"], f["latency"], f["ceiling"]
    ratio = burst["rate"] / ceil["rate"]

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    print()
    print(
        f"webhooks_delivery ({os.cpu_count()} cores, 2 worker processes x {services.SEND_CONCURRENCY} sender threads, "
        f"{services.SEND_BATCH} per task; {args.receivers} receiver processes on one loopback port)"
    )
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
    print(f"  {'pipeline / ceiling':<44} {ratio:>12.2f}x")
    print(
        f"  throughput run: {burst['deliveries']} deliveries ({args.events} events x {args.endpoints} endpoints) "
        f"in {burst['seconds']:.2f} s (recording took {burst['record_s']:.2f} s); {burst['attempts']} attempts"
    )
    print(f"  check: {burst['check']}; {burst['signatures']}")
    print(
        f"  latency run: {lat['events']} events at {args.rate:g}/s x {args.endpoints}; max {lat['max'] * 1000:.0f} ms"
    )
    print(
        f"  ceiling: the same {ceil['requests']} requests (paths, headers, bodies) the throughput run sent, "
        f"twice ({' and '.join(f'{r:,.0f}/s' for r in ceil['runs'])}); the faster one is shown"
    )
    cpu = burst["cpu"]
    per = 1000 / burst["deliveries"]
    roles = ("worker", "receiver", "bench", "postgres", "redis", "others")
    names = {"bench": "recording app", "redis": "redis (shared)", "others": "other processes"}
    print(
        f"  CPU during the throughput run ({cpu['wall']:.2f} s wall, {cpu['capacity']:.2f} CPU-s capacity, "
        f"{cpu['machine'] / cpu['capacity']:.0%} busy), CPU-ms per delivery:"
    )
    print("    " + ", ".join(f"{names.get(r, r)} {cpu.get(r, 0) * per:.2f}" for r in roles))
    for label, phase in (("throughput run", cpu), ("ceiling", ceil["cpu"])):
        share = phase.get("receiver", 0) / phase["wall"]
        print(
            f"  receiver busy during the {label}: {share:.0%} of one core over {args.receivers} processes"
            + (f"; the client loop {phase.get('bench', 0) / phase['wall']:.0%}" if label == "ceiling" else "")
        )
    stmts, batch = f["batch_statements"]
    print(
        f"  SQL statements: recording {burst['record_statements'] / args.events:.2f} per event "
        f"(event INSERT, fan-out and enqueue, 50 events per transaction); "
        f"one send batch of {batch}: {stmts} ({stmts / max(batch, 1):.3f} per delivery)"
    )
    before, after = (", ".join(f"{x:.2f}" for x in load) for load in f["load"])
    print(f"  load average before {before}; after {after}")
    print()
    print(f"  {verdict(ratio >= TARGET_VS_CEILING)}  pipeline / ceiling >= {TARGET_VS_CEILING}: {ratio:.2f}x")
    print(f"  {verdict(burst['rate'] >= TARGET_RATE)}  deliveries/s >= {TARGET_RATE:.0f}: {burst['rate']:,.0f}")
    print(f"  {verdict(lat['p99'] < TARGET_P99_S)}  p99 event -> first attempt < 1 s: {lat['p99'] * 1000:.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
