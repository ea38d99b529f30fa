"""The transactions ledger at a million rows: prints figures, never fails.

    .venv/bin/python bench/sandbox_transactions.py [--rows 1000000] [--requests 200]

Issue 4, "Benchmark". Creates and migrates a dedicated PostgreSQL database
(`portal_bench_tx` on loopback, dropped afterwards), loads the rows with one
`generate_series` INSERT, then measures in-process through Django's test client (the
whole request path: key auth, rate limit, scopes, filters, envelope; no HTTP server):

1. p50 / p95 and query count of filtered, sorted transaction list pages;
2. p50 / p95 and query count of a report (revenue by day and currency, 90 days);
3. the peak RSS (`ru_maxrss`) of a fresh process streaming a full CSV export of 100k,
   500k and 1M rows, minus its RSS before the export: flat means constant memory.

Redis is not used (the limiter falls back to its in-process twin). Exit code 0 always.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

DB_NAME = "portal_bench_tx"
TARGET_LIST_P95_MS = 50.0
DAYS = 365
LISTS = {
    "usd, posted, newest first": "currency=usd&status=posted&sort=created_at:desc",
    "charges >= 50.00, by amount": "kind=charge&amount_gte=5000&sort=amount:desc",
    "one week, newest first": "date_from={week_ago}&date_to={today}&sort=created_at:desc",
}


def _env(postgres: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "PORTAL_REQUIRE_SERVICES"}}
    # Every request comes from 127.0.0.1; lift the per-IP tier so the figures measure the
    # list and report queries, not the limiter turning the benchmark away.
    env.update(
        DATABASE_URL=f"{postgres}/{DB_NAME}",
        DJANGO_SETTINGS_MODULE="portal.settings",
        APIKEY_IP_REQUESTS_PER_MINUTE="1000000",
    )
    return env


def _admin(postgres: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{postgres}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _django():
    import django

    django.setup()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- children: each runs in its own interpreter against the bench database ----------------


def child_load(rows: int) -> None:
    _django()
    from django.db import connection

    from accounts.models import Plan
    from tests.factories import make_org, make_user

    owner = make_user("bench@example.com")
    plan = Plan.objects.create(code="bench", name="Bench", requests_per_hour=10**9, burst=10**6)
    org = make_org("Bench ledger", owner=owner, plan=plan)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO payments_mock_customer (organization_id, livemode, created_at, public_id, email, name,
                                                description, metadata, updated_at)
            SELECT %s, false, now(), 'cus_bench' || i, 'c' || i || '@example.com', 'Customer ' || i, '', '{}', now()
            FROM generate_series(1, 1000) AS i
            """,
            [org.pk],
        )
        cursor.execute("SELECT min(id) FROM payments_mock_customer WHERE organization_id = %s", [org.pk])
        first_customer = cursor.fetchone()[0]
        cursor.execute(
            """
            INSERT INTO payments_mock_transaction (organization_id, livemode, created_at, public_id, kind, status,
                                                   amount, currency, customer_id, source_id, description)
            SELECT %(org)s, i %% 10 = 0, now() - (i * %(span)s / %(rows)s) * interval '1 second',
                   'txn_bench' || i,
                   (ARRAY['charge','charge','charge','refund','fee','fx_conversion','payout'])[1 + i %% 7],
                   (ARRAY['posted','posted','posted','pending','failed'])[1 + i %% 5],
                   ((i * 7919) %% 100000) - 20000,
                   (ARRAY['USD','EUR','GBP','JPY','CAD','AUD','CHF'])[1 + (i / 7) %% 7],
                   %(customer)s + i %% 1000, 'pay_bench' || i, 'Order ' || i
            FROM generate_series(1::bigint, %(rows)s) AS i
            """,
            {"org": org.pk, "rows": rows, "span": DAYS * 86400, "customer": first_customer},
        )
        cursor.execute("ANALYZE payments_mock_transaction; ANALYZE payments_mock_customer")
    print(f"loaded {rows:,} transactions in {time.perf_counter() - started:.1f} s", flush=True)


def _key():
    from accounts.models import Membership, Organization
    from apikeys.services import apikey_create

    org = Organization.objects.get(name="Bench ledger")
    membership = Membership.objects.get(organization=org)
    scopes = ["transactions:read", "reports:read"]
    return apikey_create(
        organization=org, actor_membership=membership, name="bench", environment="test", scopes=scopes
    )[1]


def _timed(client, url: str, headers: dict, requests: int) -> tuple[float, float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(5):  # warm the key cache, the plan cache and PostgreSQL's buffers
        client.get(url, **headers)
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url, **headers)
        samples.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.95) - 1], len(queries), response.status_code


def child_measure(requests: int) -> None:
    _django()
    from datetime import timedelta

    from django.test import Client
    from django.utils import timezone

    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {_key()}", "REMOTE_ADDR": "127.0.0.1"}
    today = timezone.now().date()
    print(f"{'request':<44} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}  status")
    for label, query in LISTS.items():
        query = query.format(today=today, week_ago=today - timedelta(days=7))
        p50, p95, count, status = _timed(client, f"/api/v1/transactions?{query}", headers, requests)
        verdict = "PASS" if p95 < TARGET_LIST_P95_MS else "MISS"
        target = f"p95 < {TARGET_LIST_P95_MS:.0f} ms {verdict}"
        print(f"{'list: ' + label:<44} {p50:8.1f} {p95:8.1f} {count:8d}  {status}  {target}")
    url = f"/api/v1/reports/revenue?date_from={today - timedelta(days=90)}&date_to={today}"
    p50, p95, count, status = _timed(client, url, headers, max(10, requests // 10))
    print(f"{'report: revenue by day and currency, 90 d':<44} {p50:8.1f} {p95:8.1f} {count:8d}  {status}")


def child_export(days: int) -> None:
    _django()
    from datetime import timedelta

    from django.test import Client
    from django.utils import timezone

    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {_key()}", "REMOTE_ADDR": "127.0.0.1"}
    client.get("/api/v1/transactions?per_page=1", **headers)  # import and warm everything first
    before = _rss_mb()
    since = (timezone.now() - timedelta(days=days)).isoformat()
    started = time.perf_counter()
    response = client.get("/api/v1/transactions/export", {"created_gte": since}, **headers)
    lines = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
    print(f"{lines - 1} {before:.1f} {_rss_mb():.1f} {time.perf_counter() - started:.1f} {response.status_code}")


# ---- the parent ------------------------------------------------------------------------------


def _run(args: list[str], env: dict[str, str], timeout: int) -> str:
    done = subprocess.run(
        [sys.executable, __file__, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--child", choices=["load", "measure", "export"])
    parser.add_argument("--arg", type=int, default=0)
    options = parser.parse_args()
    if options.child:
        {"load": child_load, "measure": child_measure, "export": child_export}[options.child](options.arg)
        return 0

    env = _env(options.postgres)
    try:
        _admin(options.postgres, f"DROP DATABASE IF EXISTS {DB_NAME}")
        _admin(options.postgres, f"CREATE DATABASE {DB_NAME}")
        migrate = [sys.executable, "manage.py", "migrate", "-v", "0"]
        subprocess.run(migrate, env=env, cwd=ROOT, check=True, timeout=600)
        print(_run(["--child", "load", "--arg", str(options.rows)], env, 900), end="", flush=True)
        print(_run(["--child", "measure", "--arg", str(options.requests)], env, 900), end="", flush=True)
        print(f"\n{'CSV export':<20} {'rows':>10} {'RSS before MB':>14} {'peak RSS MB':>12} {'growth MB':>10} {'s':>6}")
        growths = []
        for fraction in (0.1, 0.5, 1.0):
            days = round(DAYS * fraction) if fraction < 1 else DAYS + 1
            out = _run(["--child", "export", "--arg", str(days)], env, 900).split()
            rows, before, peak, seconds = int(out[0]), float(out[1]), float(out[2]), out[3]
            growths.append(peak - before)
            print(f"{'full CSV export':<20} {rows:>10,} {before:14.1f} {peak:12.1f} {peak - before:10.1f} {seconds:>6}")
        flat = max(growths) - min(growths) < 20
        print(f"export memory flat as rows grow (growth spread < 20 MB): {'PASS' if flat else 'MISS'}")
    except Exception:
        traceback.print_exc()
    finally:
        try:
            _admin(options.postgres, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        except Exception as exc:
            print(f"could not drop {DB_NAME}: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
