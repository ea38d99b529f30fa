"""The hot path under gunicorn, measured with wrk: prints figures, never fails.

    .venv/bin/python bench/http_hot_path.py [--duration 10] [--connections 16] [--json out.json]

Needs PostgreSQL and Redis on loopback (`--postgres`, `--redis`; defaults are this
machine's services) and Debian's `wrk` (`make bench` installs it when run as root).
It creates and migrates a dedicated database (`portal_bench`, dropped afterwards),
empties a dedicated Redis database (14, before and after), starts gunicorn (2 sync
workers, persistent database connections) on a free loopback port with
bench.settings, and measures side by side in one run (issue 3, "Benchmark"):

1. req/s, p50 and p99 of a bare Django view, a plain DRF view, the same DRF view
   behind our full path (key auth, scope check, rate limit, capture) and behind the
   peer stack (djangorestframework-api-key's HasAPIKey + django-ratelimit on Redis +
   one log row INSERTed per request); each view twice, interleaved (ABCD DCBA);
2. in-process key verification (`authenticate_key`, cache warm): median and p99;
3. limiter exactness: 32 concurrent clients across the 2 worker processes against a
   limit of N per hour, for our limiter and for DRF's AnonRateThrottle.

Everything stays on 127.0.0.1, every run is bounded in time and count, and gunicorn
runs in its own process group, stopped in a `finally`. The exit code is 0 whatever
the figures say; the targets are printed as PASS or MISS.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The project root, not bench/ itself: bench/settings.py must not be importable as `settings`.
sys.path[0] = str(ROOT)

VIEWS = ("bare", "drf", "ours", "peer")
LABELS = {
    "bare": "bare Django view",
    "drf": "plain DRF APIView",
    "ours": "DRF + our full path",
    "peer": "DRF + peer stack",
}
# Targets of issue 3.
TARGET_VS_DRF = 0.5
TARGET_VS_PEER = 2.0
TARGET_P99_VS_BARE = 3.0
TARGET_VERIFY_P99_MS = 1.0


# ---- wrk -----------------------------------------------------------------------------------


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int = 0
    socket_errors: int = 0


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_wrk(output: str) -> WrkResult:
    """The figures of `wrk --latency`; raises ValueError when a line is missing."""

    def latency(percent: str) -> float:
        match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
        if match is None:
            raise ValueError(f"no {percent}% line in wrk's output")
        return _ms(*match.groups())

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in ", output, re.M)
    if rps is None or total is None:
        raise ValueError("no Requests/sec line in wrk's output")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        # Sync workers close every connection; wrk counts a close it did not expect as a read error.
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def run_wrk(url: str, headers: dict[str, str], *, threads: int, connections: int, duration: int) -> WrkResult:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "5s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(url)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return parse_wrk(done.stdout)


# ---- services and gunicorn -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recreate_database(base_url: str, name: str) -> str:
    """Drop and create the benchmark database (it holds nothing else); its URL.

    A fresh database each run: no rows or migration state left by an earlier run or an
    earlier version of the tree can change the figures.
    """
    import psycopg

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name in {"postgres", "portal", "template0", "template1"}:
        raise SystemExit(f"refusing to recreate the database {name!r}; pick a dedicated name")
    with psycopg.connect(f"{base_url}/postgres", autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base_url}/{name}"


def drop_database(base_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{base_url}/postgres", autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _loopback_only(url: str, what: str) -> None:
    host = re.sub(r"^\w+://(?:[^@/]*@)?", "", url).split("/")[0].rsplit(":", 1)[0]
    if host not in {"127.0.0.1", "localhost", "[::1]"}:
        raise SystemExit(f"{what} must be on loopback for the benchmark, not {host!r}")


class Gunicorn:
    """gunicorn in its own process group; `stop()` ends the group, whatever happened."""

    def __init__(self, *, env: dict[str, str], workers: int, log_path: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi:application",
            "--chdir",
            str(ROOT),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--log-level",
            "warning",
            "--graceful-timeout",
            "5",
        ]
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base}/bare", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        self._log.close()


def get(url: str, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# ---- the figures ---------------------------------------------------------------------------


@dataclass
class Figures:
    rounds: dict[str, list[WrkResult]] = field(default_factory=lambda: {view: [] for view in VIEWS})
    verify_us: tuple[float, float] = (0.0, 0.0)
    verify_cold_us: tuple[float, float] = (0.0, 0.0)
    exactness: dict[str, dict] = field(default_factory=dict)
    captured: int = 0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def mean(self, view: str, attr: str) -> float:
        return statistics.fmean(getattr(r, attr) for r in self.rounds[view])


def measure_views(server: Gunicorn, headers: dict[str, dict[str, str]], args, figures: Figures) -> None:
    for view in VIEWS:  # warm both workers' caches, connections and code paths
        run_wrk(f"{server.base}/{view}", headers[view], threads=args.threads, connections=args.connections, duration=2)
    order = list(VIEWS)
    for number in range(args.rounds):
        for view in order:
            result = run_wrk(
                f"{server.base}/{view}",
                headers[view],
                threads=args.threads,
                connections=args.connections,
                duration=args.duration,
            )
            figures.rounds[view].append(result)
            flag = f"  ({result.non_2xx} non-2xx!)" if result.non_2xx else ""
            print(
                f"  round {number + 1}  {view:5} {result.rps:8.0f} req/s  "
                f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms{flag}",
                flush=True,
            )
        order.reverse()  # ABCD DCBA: drift over the run falls on every view alike


def hammer(url: str, headers: dict[str, str], *, clients: int, attempts: int) -> dict:
    """`clients` threads, each with its own connections, `attempts` requests each; status counts."""
    _, _, rest = url.partition("://")
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    counts: dict[int, int] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def client() -> None:
        mine: dict[int, int] = {}
        barrier.wait(timeout=30)
        for _ in range(attempts):
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            try:
                conn.request("GET", f"/{path}", headers=headers)
                response = conn.getresponse()
                response.read()
                mine[response.status] = mine.get(response.status, 0) + 1
            except OSError:
                mine[0] = mine.get(0, 0) + 1
            finally:
                conn.close()
        with lock:
            for status, n in mine.items():
                counts[status] = counts.get(status, 0) + n

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    elapsed = time.monotonic() - started
    admitted = sum(n for status, n in counts.items() if 200 <= status < 300)
    return {"admitted": admitted, "statuses": dict(sorted(counts.items())), "seconds": elapsed}


def verify_timings(secret: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """authenticate_key per call in µs: (median, p99) with the key cached, then with a cold cache."""
    import ipaddress

    from apikeys.authentication import authenticate_key, key_cache

    ip = ipaddress.ip_address("127.0.0.1")

    def timed(n: int, *, cold: bool) -> tuple[float, float]:
        samples = []
        for _ in range(n):
            if cold:
                key_cache.clear()
            t0 = time.perf_counter_ns()
            authenticate_key(secret, ip=ip)
            samples.append(time.perf_counter_ns() - t0)
        samples.sort()
        return statistics.median(samples) / 1000, samples[int(len(samples) * 0.99) - 1] / 1000

    key_cache.clear()
    authenticate_key(secret, ip=ip)
    warm = timed(20_000, cold=False)
    cold = timed(500, cold=True)
    key_cache.clear()
    return warm, cold


# ---- report --------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(figures: Figures, args, settings_summary: str) -> dict:
    rps = {view: figures.mean(view, "rps") for view in VIEWS}
    p50 = {view: figures.mean(view, "p50_ms") for view in VIEWS}
    p99 = {view: figures.mean(view, "p99_ms") for view in VIEWS}
    print()
    print(f"== HTTP hot path: gunicorn {args.workers} sync workers, wrk -t{args.threads} -c{args.connections} ", end="")
    print(f"-d{args.duration}s x {args.rounds} rounds (means), {settings_summary}")
    print(f"{'view':28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'x bare':>7} {'x DRF':>7}")
    for view in VIEWS:
        non_2xx = sum(r.non_2xx for r in figures.rounds[view])
        print(
            f"{LABELS[view] + ' (/' + view + ')':28} {rps[view]:8.0f} {p50[view]:8.2f} {p99[view]:8.2f} "
            f"{rps[view] / rps['bare']:7.2f} {rps[view] / rps['drf']:7.2f}"
            + (f"  {non_2xx} non-2xx" if non_2xx else "")
        )
    vs_drf = rps["ours"] / rps["drf"]
    vs_peer = rps["ours"] / rps["peer"]
    p99_vs_bare = p99["ours"] / p99["bare"]
    wm, wp = figures.verify_us
    cm, cp = figures.verify_cold_us
    print()
    print("== Targets (issue 3)")
    rows = [
        (f"ours / plain DRF req/s      {vs_drf:6.2f}x  (>= {TARGET_VS_DRF})", vs_drf >= TARGET_VS_DRF),
        (f"ours / peer stack req/s     {vs_peer:6.2f}x  (>= {TARGET_VS_PEER})", vs_peer >= TARGET_VS_PEER),
        (
            f"ours p99 / bare p99         {p99_vs_bare:6.2f}x  (<= {TARGET_P99_VS_BARE})",
            p99_vs_bare <= TARGET_P99_VS_BARE,
        ),
        (
            f"key verification p99     {wp / 1000:8.3f} ms  (< {TARGET_VERIFY_P99_MS} ms; median {wm:.1f} µs)",
            wp / 1000 < TARGET_VERIFY_P99_MS,
        ),
    ]
    ours_exact = figures.exactness.get("ours")
    if ours_exact:
        rows.append(
            (
                f"ours admitted above N        {ours_exact['over']:+d}    (target 0)",
                ours_exact["over"] <= 0,
            )
        )
    for text, ok in rows:
        print(f"  {verdict(ok)}  {text}")
    print(f"  info  key verification, cold cache (one indexed query): median {cm:.0f} µs, p99 {cp:.0f} µs")
    for result in figures.exactness.values():
        print(
            f"  info  limiter exactness, {result['label']}: N={result['limit']}, {result['clients']} clients x "
            f"{result['attempts']} requests in {result['seconds']:.1f} s -> admitted {result['admitted']} "
            f"(allowed {result['allowed']}), {result['over']:+d} over; statuses {result['statuses']}"
        )
    if figures.captured:
        print(f"  info  capture records that reached Redis during the run: {figures.captured}")
    before, after = (", ".join(f"{x:.2f}" for x in load) for load in (figures.load_before, figures.load_after))
    print(f"  info  load average before {before}; after {after} (other work on the machine skews every figure)")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": settings_summary,
        "args": vars(args),
        "views": {
            view: {
                "rps": rps[view],
                "p50_ms": p50[view],
                "p99_ms": p99[view],
                "rounds": [r.__dict__ for r in figures.rounds[view]],
            }
            for view in VIEWS
        },
        "ratios": {"ours_vs_drf": vs_drf, "ours_vs_peer": vs_peer, "ours_p99_vs_bare_p99": p99_vs_bare},
        "verify_us": {"median": wm, "p99": wp, "cold_median": cm, "cold_p99": cp},
        "exactness": figures.exactness,
        "captured": figures.captured,
        "load_average": {"before": figures.load_before, "after": figures.load_after},
    }


# ---- main ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432", help="server URL, no database")
    parser.add_argument("--database", default="portal_bench", help="created for the run, dropped after it")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14", help="a Redis database only for this")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (max 60)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds over the four views (max 5)")
    parser.add_argument("--limit", type=int, default=200, help="N of the exactness test, per hour")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--attempts", type=int, default=25, help="requests per client in the exactness test")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--wait-quiet", type=int, default=0, help="wait up to this many seconds (max 900) for a 1-min load below 1"
    )
    args = parser.parse_args()
    args.duration = max(1, min(args.duration, 60))
    args.rounds = max(1, min(args.rounds, 5))
    args.attempts = max(1, min(args.attempts, 200))

    deadline = time.monotonic() + max(0, min(args.wait_quiet, 900))
    while os.getloadavg()[0] >= 1.0 and time.monotonic() < deadline:
        time.sleep(5)
    if os.getloadavg()[0] >= 1.0:
        print(f"http_hot_path: the machine is busy (load {os.getloadavg()[0]:.2f}); figures will be noisy")

    if shutil.which("wrk") is None:
        print("http_hot_path: wrk is not installed (apt-get install wrk, or `make bench` as root); skipped.")
        return 0
    _loopback_only(args.postgres, "PostgreSQL")
    _loopback_only(args.redis, "Redis")
    try:
        database_url = recreate_database(args.postgres, args.database)
    except Exception as exc:
        print(f"http_hot_path: PostgreSQL at {args.postgres} is not usable ({exc}); skipped.")
        return 0
    import redis

    redis_client = redis.Redis.from_url(args.redis, socket_connect_timeout=2)
    # The database is emptied (FLUSHDB) before and after: never the default one or the portal's.
    if redis_client.connection_pool.connection_kwargs.get("db", 0) == 0 or args.redis == os.environ.get("REDIS_URL"):
        raise SystemExit(f"--redis must name a Redis database used only by the benchmark, not {args.redis}")
    try:
        redis_client.ping()
    except redis.RedisError as exc:
        print(f"http_hot_path: Redis at {args.redis} is not usable ({exc}); skipped.")
        return 0

    var_dir = Path(tempfile.mkdtemp(prefix="portal-http-bench-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_DEBUG": "false",
        "DATABASE_URL": database_url,
        "REDIS_URL": args.redis,
        "APIKEY_REDIS_URL": args.redis,
        "PORTAL_VAR_DIR": str(var_dir),  # its secret key derives the dev pepper: shared with gunicorn
        "APIKEY_IP_REQUESTS_PER_MINUTE": str(10**9),  # one client IP sends everything here
        "CELERY_TASK_ALWAYS_EAGER": "true",  # key notices are sent inline, not left in a broker
        "BENCH_LIMIT_PER_HOUR": str(args.limit),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("DATABASE_POOL", None)
    os.environ.update(env)
    os.environ["LOG_LEVEL"] = "warning"  # this process only: no per-task lines while setting up

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections
    from rest_framework_api_key.models import APIKey

    from accounts.models import Membership, Organization, Plan, User
    from apikeys.ratelimit import limiter
    from apikeys.services import apikey_create

    server: Gunicorn | None = None
    figures = Figures()
    try:
        print(f"http_hot_path: migrating {args.database} ...", flush=True)
        call_command("migrate", verbosity=0)
        redis_client.flushdb()
        tag = f"bench-{os.getpid()}"
        plan = Plan.objects.create(code=tag, name="Bench", requests_per_hour=10**9, burst=0)
        user = User.objects.create_user(f"{tag}@bench.invalid", password=None)
        org = Organization.objects.create(name="Bench", slug=tag, plan=plan)
        membership = Membership.objects.create(user=user, organization=org, role="owner")
        _, secret = apikey_create(
            organization=org, actor_membership=membership, name="bench", environment="test", scopes=["payments:read"]
        )
        _, limited_secret = apikey_create(
            organization=org,
            actor_membership=membership,
            name="bench limited",
            environment="test",
            scopes=["payments:read"],
            rate_limit_per_hour=args.limit,
        )
        _, peer_secret = APIKey.objects.create_key(name=tag)
        connections.close_all()
        headers = {
            "bare": {},
            "drf": {},
            "ours": {"Authorization": f"Bearer {secret}"},
            "peer": {"Authorization": f"Api-Key {peer_secret}"},
        }
        db = settings.DATABASES["default"]
        settings_summary = (
            f"PostgreSQL CONN_MAX_AGE={db['CONN_MAX_AGE']} health checks={db.get('CONN_HEALTH_CHECKS')}, "
            f"Redis {args.redis}, DEBUG={settings.DEBUG}"
        )

        server = Gunicorn(env=env, workers=args.workers, log_path=var_dir / "gunicorn.log")
        server.wait_ready()
        for view in VIEWS:
            status, body = get(f"{server.base}/{view}", headers[view])
            if status != 200:
                raise RuntimeError(f"/{view} answered {status}: {body[:300]!r}\n{server.log_tail()}")
        print(f"http_hot_path: gunicorn on {server.base}, {args.workers} sync workers; measuring ...", flush=True)
        figures.load_before = os.getloadavg()
        measure_views(server, headers, args, figures)
        figures.load_after = os.getloadavg()
        figures.captured = int(redis_client.llen(f"{limiter.prefix}capture"))

        print("http_hot_path: limiter exactness ...", flush=True)
        for name, path, hdrs, label in (
            ("ours", "ours", {"Authorization": f"Bearer {limited_secret}"}, "ours (Lua GCRA, key limit, no burst)"),
            ("drf", "drf-throttled", {}, "DRF AnonRateThrottle (cache on Redis)"),
        ):
            result = hammer(f"{server.base}/{path}", hdrs, clients=args.clients, attempts=args.attempts)
            # GCRA refills continuously: over the run, N * seconds / 3600 more may be admitted.
            allowed = args.limit + (int(args.limit * result["seconds"] / 3600) if name == "ours" else 0)
            figures.exactness[name] = {
                **result,
                "label": label,
                "limit": args.limit,
                "allowed": allowed,
                "over": result["admitted"] - allowed,
                "clients": args.clients,
                "attempts": args.attempts,
            }
        server.stop()
        # In this process, against the same database, once gunicorn has stopped.
        figures.verify_us, figures.verify_cold_us = verify_timings(secret)
    except Exception:
        print("http_hot_path: the run failed:")
        traceback.print_exc()
        if server is not None:
            print(server.log_tail())
        return 0
    finally:
        if server is not None:
            server.stop()
        connections.close_all()
        # Nothing of the run is kept: the database is dropped, the Redis database emptied.
        for cleanup in (redis_client.flushdb, lambda: drop_database(args.postgres, args.database)):
            try:
                cleanup()
            except Exception as exc:
                print(f"http_hot_path: cleanup failed: {exc}")
        shutil.rmtree(var_dir, ignore_errors=True)

    print("http_hot_path: done.", flush=True)
    results = report(figures, args, settings_summary)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
