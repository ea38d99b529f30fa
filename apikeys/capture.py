"""Request capture: one small record per API request, never a synchronous insert.

`PortalAPIView.finalize_response` (portal/api.py) calls `record()` once the response
is known. The record waits in this process's buffer:
- services profile: the next request's rate-limit script appends it to a Redis list
  in the same round trip; if the process goes quiet, a background thread pushes what
  has waited longer than `APIKEY_CAPTURE_MAX_DELAY` seconds;
- embedded profile: the background thread writes the buffer to the database in bulk.
The Celery task `flush_request_logs` (every 10 s) moves the Redis list into
`RequestLog` and updates the keys' last use (`request_logs_flush`).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from collections import deque
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q

logger = logging.getLogger(__name__)

BUFFER_MAX = 20_000  # per process; past this the oldest records are dropped


class CaptureBuffer:
    def __init__(self, maxlen: int = BUFFER_MAX):
        self._items: deque[tuple[float, str]] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def append(self, record: str) -> None:
        with self._lock:
            self._items.append((time.monotonic(), record))

    def take(self, count: int) -> list[str]:
        with self._lock:
            n = min(count, len(self._items))
            return [self._items.popleft()[1] for _ in range(n)]

    def put_back(self, records: list[str]) -> None:
        if not records:
            return
        now = time.monotonic()
        with self._lock:
            self._items.extendleft((now, record) for record in reversed(records))

    def oldest_age(self) -> float:
        with self._lock:
            return time.monotonic() - self._items[0][0] if self._items else 0.0

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


buffer = CaptureBuffer()


def build_record(request, response, context, latency_ms: int) -> str:
    match = getattr(request, "resolver_match", None)
    route = "/" + match.route if match is not None and match.route else request.path
    values = {
        "o": context.organization_id,
        "k": context.credential_pk,
        "c": context.credential_id,
        "l": context.livemode,
        "r": route[:200],
        "m": request.method,
        "s": response.status_code,
        "ms": latency_ms,
        "qb": int(request.META.get("CONTENT_LENGTH") or 0),
        "rb": len(response.content) if not response.streaming else 0,
        "ip": request.META.get("REMOTE_ADDR") or None,
        "cc": getattr(request, "country", "") or "",
        "ua": request.META.get("HTTP_USER_AGENT", "")[:400],
        "id": getattr(request, "request_id", ""),
        "t": time.time(),
    }
    if getattr(context, "grant_id", None):
        values["g"] = context.grant_id  # only on delegated-grant calls: records stay small
    return json.dumps(values, separators=(",", ":"))


def record(request, response, context, latency_ms: int) -> None:
    buffer.append(build_record(request, response, context, latency_ms))
    if settings.APIKEY_CAPTURE_BACKGROUND:
        _shipper.ensure_running()


# ---- flushing ----------------------------------------------------------------------------


def request_logs_insert(records: list[str]) -> int:
    """Bulk-insert captured records and move the keys' last use forward. Returns rows written.

    Calls made under a delegated grant (a marketplace install) carry its id: the row's
    `grant` is set, the grant's last use moves forward, and `grant_requests_flushed`
    tells listeners (the marketplace's call counts) in the same transaction.
    """
    from accounts.models import Organization
    from apikeys.models import ApiKey, DelegatedGrant, RequestLog
    from apikeys.signals import grant_requests_flushed

    parsed = []
    for raw in records:
        try:
            parsed.append(json.loads(raw))
        except ValueError:
            logger.warning("Dropping a malformed capture record: %.80r", raw)
    if not parsed:
        return 0
    org_ids = set(Organization.objects.filter(pk__in={r["o"] for r in parsed}).values_list("pk", flat=True))
    key_ids = set(ApiKey.objects.filter(pk__in={r["k"] for r in parsed if r.get("k")}).values_list("pk", flat=True))
    wanted_grants = {r["g"] for r in parsed if r.get("g")}
    grant_ids = (
        set(DelegatedGrant.objects.filter(pk__in=wanted_grants).values_list("pk", flat=True))
        if wanted_grants
        else set()
    )
    rows = []
    last_use: dict[int, tuple[datetime, str | None]] = {}
    grant_usage: dict[int, tuple[int, datetime]] = {}
    for r in parsed:
        if r["o"] not in org_ids:
            continue  # the organisation was deleted since
        at = datetime.fromtimestamp(r["t"], tz=UTC)
        key_id = r.get("k") if r.get("k") in key_ids else None
        grant_id = r.get("g") if r.get("g") in grant_ids else None
        rows.append(
            RequestLog(
                organization_id=r["o"],
                api_key_id=key_id,
                credential_id=r.get("c") or "",
                livemode=bool(r.get("l")),
                route=r["r"],
                method=r["m"],
                status=r["s"],
                latency_ms=max(int(r["ms"]), 0),
                request_bytes=max(int(r.get("qb") or 0), 0),
                response_bytes=max(int(r.get("rb") or 0), 0),
                ip=r.get("ip"),
                country=r.get("cc") or "",
                user_agent=r.get("ua") or "",
                request_id=r.get("id") or "",
                grant_id=grant_id,
                created_at=at,
            )
        )
        if grant_id is not None:
            calls, last_at = grant_usage.get(grant_id, (0, at))
            grant_usage[grant_id] = (calls + 1, max(last_at, at))
        if key_id is not None and (key_id not in last_use or last_use[key_id][0] < at):
            last_use[key_id] = (at, r.get("ip"))
    with transaction.atomic():
        RequestLog.objects.bulk_create(rows, batch_size=1000)
        for key_id, (at, ip) in last_use.items():
            # Only ever forward: an older batch flushed late must not move it back.
            ApiKey.objects.filter(pk=key_id).filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=at)).update(
                last_used_at=at, last_used_ip=ip
            )
        for grant_id, (_calls, at) in grant_usage.items():
            DelegatedGrant.objects.filter(pk=grant_id).filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lt=at)
            ).update(last_used_at=at)
        if grant_usage:
            grant_requests_flushed.send(sender=RequestLog, usage=grant_usage)
    return len(rows)


def request_logs_flush(*, batch: int = 5000, max_batches: int = 20) -> int:
    """Move captured records from Redis (and this process's buffer) into RequestLog.

    Records are popped before they are inserted: a crash between the two loses at most
    one batch of log lines, which we accept for request logs (at-most-once).
    """
    from apikeys.ratelimit import limiter

    written = 0
    for _ in range(max_batches):
        records = buffer.take(batch)
        backend = limiter.redis
        if backend is not None and len(records) < batch:
            try:
                records += backend.pop_records(batch - len(records))
            except Exception as exc:  # a broken Redis must not stop the local drain
                logger.warning("Could not read captured requests from Redis: %s", exc)
        if not records:
            break
        written += request_logs_insert(records)
    return written


class _Shipper:
    """A daemon thread per process: ships records that waited too long for a request."""

    def __init__(self):
        self._pid = 0
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="apikeys-capture", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(0.5)
            try:
                if buffer.oldest_age() >= settings.APIKEY_CAPTURE_MAX_DELAY:
                    ship_now()
            except Exception:
                logger.exception("Shipping captured requests failed")
            finally:
                from django.db import connection

                connection.close()  # this thread's own connection; never left open between rounds


def ship_now() -> None:
    from apikeys.ratelimit import limiter

    records = buffer.take(5000)
    if not records:
        return
    if limiter.redis is not None:
        if not limiter.ship_records(records):
            buffer.put_back(records)
        return
    try:
        request_logs_insert(records)
    except Exception:
        buffer.put_back(records)
        raise


_shipper = _Shipper()


@atexit.register
def _ship_on_exit() -> None:
    if len(buffer) and settings.configured and settings.APIKEY_CAPTURE_BACKGROUND:
        try:
            ship_now()
        except Exception:
            logger.exception("Could not ship captured requests at exit")
