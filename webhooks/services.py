"""Webhooks' write path: the outbox, fan-out, the dispatcher, one delivery attempt, and
the endpoint operations the portal pages and the API share.

The delivery state machine lives in the database (docs/decisions.md, "Webhooks"):

    event_record (caller's transaction) --on_commit, once per transaction--> events_fan_out:
    one pending Delivery per subscribed endpoint, next_attempt_at = now, born with its
    dispatch lease; send_deliveries(ids) enqueued for them, SEND_BATCH per task
    deliveries_dispatch (beat, every second): claim due rows with SELECT ... FOR UPDATE
    SKIP LOCKED, set the dispatch lease, enqueue send_deliveries(ids), SEND_BATCH per task
    deliveries_attempt (worker): claim and load the batch in one locking read (SKIP
    LOCKED) and set its send leases, POST each once from SEND_CONCURRENCY threads over
    keep-alive connections per checked address, then record every attempt in one
    transaction: one bulk insert of the attempts and one bulk update that succeeds,
    reschedules or fails each delivery (fenced per row on the attempt_count it claimed).

A task lost with its worker or its broker is handed out again when its lease ends, and
a duplicate task finds the attempt claimed or done, so nothing is lost or sent twice
at once. Retries are never countdowns in the broker.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Membership, Organization, User
from accounts.services import RequestMeta, audit_record
from accounts.services.audit import SYSTEM
from portal.emails import absolute_url, send_templated_email
from portal.lib import ids as public_ids
from portal.lib import ssrf, webhook_signing
from webhooks import bulk, catalogue
from webhooks import http as webhook_http
from webhooks.models import Attempt, Delivery, Endpoint, Event, ReceivedRequest, Receiver

log = logging.getLogger(__name__)

# Delays before attempts 2..8 (attempt 1 is immediate): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
RETRY_SCHEDULE: tuple[int, ...] = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
JITTER = 0.1  # +-10 % of each delay, so endpoints that failed together do not retry together
MAX_RETRY_AFTER = 10 * 3600
FAILING_DISABLE_AFTER = timedelta(days=5)
ROTATION_GRACE = timedelta(hours=24)
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_CUSTOM_HEADERS = 20
RESERVED_HEADERS = {
    "host",
    "content-type",
    "content-length",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "connection",
    "transfer-encoding",
}
DISPATCH_BATCH = 500
SEND_BATCH = 200  # deliveries per send task (docs/decisions.md, "Webhooks")
SEND_CONCURRENCY = 4  # sender threads per task, so at most 4 requests at once to one endpoint from one task
FAN_OUT_SWEEP_AFTER = timedelta(seconds=30)
RECEIVER_KEEP = 50


def _lease() -> timedelta:
    return timedelta(seconds=settings.WEBHOOKS_LEASE_SECONDS)


def _commit_without_flush() -> None:
    """Let the current transaction, when it is our own outermost one, commit without waiting
    for PostgreSQL's WAL flush (`synchronous_commit = off` for this transaction only).

    Used for the bookkeeping after the outbox commit (fan-out, dispatch lease, send lease,
    attempt record). A PostgreSQL crash may forget its last fraction of a second, which
    repeats a send with the same webhook-id but never loses one: the event row commits
    synchronously in the caller's transaction, and an unfanned event or a pending delivery
    is picked up again. Other sessions see the commit at once. A synchronous commit costs
    4-9 ms on the benchmark machine and a delivery made 2-3 of them (docs/benchmarks.md).
    """
    if connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _public_ids(prefix: str, count: int) -> list[str]:
    """`count` identifiers of `new_public_id`'s form (the prefix and 20 uniform base62
    characters) from one read of the OS's random source instead of one read per character."""
    alphabet, need, chars = public_ids.BASE62, 20 * count, []
    while len(chars) < need:
        # 248 = 4 x 62: a byte below it, modulo 62, is uniform over the alphabet.
        chars += [alphabet[b % 62] for b in secrets.token_bytes(need - len(chars) + 32) if b < 248]
    return [f"{prefix}_{''.join(chars[i : i + 20])}" for i in range(0, need, 20)]


# ---- the retry schedule -----------------------------------------------------------------


def retry_delay(*, attempts_made: int, retry_after: int | None = None, rand: Callable[[], float] = random.random):
    """Seconds until the next attempt after `attempts_made` failed ones, or None when done.

    A `Retry-After` (429 and 503) replaces the scheduled delay, capped at 10 h; it does
    not add attempts.
    """
    if attempts_made >= MAX_ATTEMPTS:
        return None
    base = RETRY_SCHEDULE[attempts_made - 1]
    if retry_after is not None:
        return float(min(max(retry_after, 1), MAX_RETRY_AFTER))
    return base * (1 + JITTER * (2 * rand() - 1))


# ---- the outbox ---------------------------------------------------------------------------


def _payload(event: Event) -> bytes:
    return _payload_of(event.public_id, event.type, event.created_at, event.livemode, event.data)


def _payload_of(public_id: str, type: str, created_at: datetime, livemode: bool, data: Any) -> bytes:
    body = {
        "id": public_id,
        "type": type,
        "created_at": created_at.isoformat().replace("+00:00", "Z"),
        "livemode": livemode,
        "data": data,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def event_record(*, organization: Organization, livemode: bool, type: str, data: dict) -> Event:
    """Record an event inside the caller's transaction (the outbox).

    After that transaction commits, a delivery is created for every enabled endpoint of
    the organisation and mode that subscribes to `type`, and the first attempts are
    queued. A rolled-back transaction leaves no event and sends nothing. Raises
    ValueError for an unknown type, data that does not fit the type's schema, or a
    payload over 256 KB.
    """
    event_type = catalogue.get(type)
    problems = catalogue.data_problems(event_type, data)
    if problems:
        raise ValueError(f"{type} data does not fit its schema: {'; '.join(problems)}")
    event = Event(
        public_id=_public_ids("evt", 1)[0], organization=organization, livemode=livemode, type=type, data=data
    )
    if len(_payload(event)) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"An event payload may be at most {MAX_PAYLOAD_BYTES // 1024} KB.")
    bulk.insert_event(event)
    # One fan-out and dispatch for all the events of a transaction: every event registers
    # the callback (a rolled-back savepoint drops its own) and the first to run after the
    # commit takes them all; the others find nothing left.
    drain = _pending_fan_out()
    drain.event_ids[event.pk] = None
    transaction.on_commit(drain, robust=True)
    return event


class _FanOutPending:
    def __init__(self):
        self.event_ids: dict[int, None] = {}

    def __call__(self) -> None:
        ids = list(self.event_ids)
        self.event_ids.clear()
        if ids:
            _fan_out_and_dispatch(ids)


_local = threading.local()


def _pending_fan_out() -> _FanOutPending:
    """This transaction's pending fan-out: a fresh one unless one of its callbacks is still registered."""
    drain = getattr(_local, "fan_out", None)
    registered = connection.in_atomic_block and any(f is drain for _, f, _ in connection.run_on_commit)
    if drain is None or not registered:
        drain = _local.fan_out = _FanOutPending()
    return drain


def _fan_out_and_dispatch(event_ids: list[int]) -> None:
    """After the commit: fan the transaction's events out with their deliveries born claimed
    (dispatch lease set in the same transaction), then enqueue their sends. Should the process
    die in between, the leases expire and the dispatcher hands the deliveries out."""
    created = _events_fan_out(event_ids, claim=True)
    _enqueue_sends([pk for pk, _, _ in sorted(created, key=lambda row: (row[1], row[0]))])


def _enqueue_sends(ids: list[int]) -> None:
    from webhooks.tasks import send_deliveries

    for start in range(0, len(ids), SEND_BATCH):
        send_deliveries.delay(ids[start : start + SEND_BATCH])


def event_fan_out(*, event_id: int) -> int:
    """Create the event's deliveries (idempotent: one original delivery per endpoint); how many."""
    return len(_events_fan_out([event_id], claim=False))


def events_fan_out(*, event_ids: Iterable[int]) -> list[int]:
    """`event_fan_out` for many events in one transaction; returns the ids of events that got deliveries."""
    created = _events_fan_out(list(event_ids), claim=False)
    return sorted({event_id for _, _, event_id in created})


def _events_fan_out(event_ids: list[int], *, claim: bool) -> list[tuple[int, int, int]]:
    """Fan out the events not fanned out yet, in one transaction; (delivery id, endpoint id,
    event id) of each delivery created. With `claim`, the deliveries are born with their
    dispatch lease.

    The events are locked (SKIP LOCKED) and re-read as unfanned under the lock, so two
    fan-outs of one event (the on-commit callback and the sweeper) never both insert: the
    later one finds it fanned out or locked, and leaves it.
    """
    if not event_ids:
        return []
    now = timezone.now()
    with transaction.atomic():
        _commit_without_flush()
        events = bulk.lock_unfanned_events(event_ids)
        if not events:
            return []
        endpoints: dict[tuple[int, bool], list[tuple[int, list]]] = {}
        for pk, org_id, livemode, types in Endpoint.objects.filter(
            organization_id__in={org_id for _, org_id, _, _ in events},
            livemode__in={livemode for _, _, livemode, _ in events},
            enabled=True,
        ).values_list("pk", "organization_id", "livemode", "event_types"):
            endpoints.setdefault((org_id, livemode), []).append((pk, types))
        pairs = [
            (event_id, endpoint_id)
            for event_id, org_id, livemode, type in events
            for endpoint_id, types in endpoints.get((org_id, livemode), [])
            if not types or type in types
        ]
        rows = [(public_id, *pair) for pair, public_id in zip(pairs, _public_ids("msg", len(pairs)), strict=True)]
        made = bulk.insert_deliveries(rows, now=now, dispatched_until=now + _lease() if claim else None)
        bulk.mark_fanned_out([event_id for event_id, *_ in events], now)
        return made


def _new_delivery(
    event: Event, endpoint: Endpoint | None, now: datetime, *, is_resend: bool = False, **fields: Any
) -> Delivery:
    if endpoint is not None:
        fields["endpoint"] = endpoint
    return Delivery(
        organization_id=event.organization_id,
        event_id=event.pk,
        event_type=event.type,
        livemode=event.livemode,
        webhook_id=event.public_id,
        is_resend=is_resend,
        next_attempt_at=now,
        created_at=now,
        **fields,
    )


# ---- the dispatcher ------------------------------------------------------------------------


def deliveries_claim_due(
    *, limit: int = DISPATCH_BATCH, event_id: int | None = None, event_ids: list[int] | None = None
) -> list[int]:
    """Claim up to `limit` due deliveries for this caller: set their dispatch lease.

    Two dispatchers running at once never claim the same row: on PostgreSQL the rows
    are locked with FOR UPDATE SKIP LOCKED; SQLite's immediate transactions serialise
    the whole claim. The ids come back ordered by endpoint, so a send batch mostly
    goes to one endpoint over one keep-alive connection.
    """
    now = timezone.now()
    due = Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now).filter(
        Q(dispatched_until__isnull=True) | Q(dispatched_until__lt=now)
    )
    if event_id is not None:
        due = due.filter(event_id=event_id)
    if event_ids is not None:
        due = due.filter(event_id__in=event_ids)
    with transaction.atomic():
        _commit_without_flush()
        rows = list(
            due.order_by("next_attempt_at").select_for_update(skip_locked=True).values_list("pk", "endpoint_id")[:limit]
        )
        if rows:
            Delivery.objects.filter(pk__in=[pk for pk, _ in rows]).update(dispatched_until=now + _lease())
    return [pk for pk, _ in sorted(rows, key=lambda row: (row[1], row[0]))]


def deliveries_dispatch(
    *, limit: int = DISPATCH_BATCH, event_id: int | None = None, event_ids: list[int] | None = None
) -> int:
    """Claim due deliveries and enqueue send tasks of up to SEND_BATCH each (after the claim commits)."""
    ids = deliveries_claim_due(limit=limit, event_id=event_id, event_ids=event_ids)
    _enqueue_sends(ids)
    return len(ids)


def events_sweep_unfanned() -> int:
    """Fan out events whose on-commit fan-out never ran (the process died after the commit)."""
    cutoff = timezone.now() - FAN_OUT_SWEEP_AFTER
    ids = list(
        Event.objects.filter(fanned_out_at__isnull=True, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:DISPATCH_BATCH]
    )
    _events_fan_out(ids, claim=False)
    return len(ids)


# ---- one attempt ----------------------------------------------------------------------------


def _rate_limited(endpoint: Endpoint, now: datetime) -> bool:
    if not endpoint.rate_limit_per_second:
        return False
    key = f"whrl:{endpoint.pk}:{int(now.timestamp())}"
    cache.add(key, 0, timeout=5)
    try:
        count = cache.incr(key)
    except ValueError:
        return False
    return count > endpoint.rate_limit_per_second


def delivery_attempt(*, delivery_id: int) -> Attempt | None:
    """Make the next attempt of a delivery, if it is due and nobody else is making it.

    Returns the recorded Attempt, or None when there was nothing to do (done already,
    not due, or another worker holds the send lease). Safe to call twice.
    """
    attempts = deliveries_attempt(delivery_ids=[delivery_id])
    return attempts[0] if attempts else None


@dataclass(slots=True)
class _Claimed:
    """A delivery claimed for sending: what its attempt and its record need, nothing more."""

    pk: int
    public_id: str
    organization_id: int
    endpoint_id: int
    event_id: int
    webhook_id: str
    attempt_count: int  # as claimed: the fence for everything recorded after the send
    event: tuple  # (public id, type, created_at, livemode, data), for the payload
    endpoint: Endpoint | None = None


def deliveries_attempt(*, delivery_ids: Iterable[int], want_attempts: bool = True) -> list[Attempt]:
    """The next attempt of each of these deliveries that is due and that nobody else is making.

    One locking read (FOR UPDATE SKIP LOCKED on the deliveries only) claims and loads the
    batch, and one update sets its send leases; the claimed `attempt_count` of each row
    fences everything recorded later. Sends go out from up to SEND_CONCURRENCY threads,
    reusing keep-alive connections per checked address. One transaction then records every
    attempt (one bulk insert) and each delivery's new state (one bulk update). Deliveries
    the batch could not start before half the lease ran out are released for the
    dispatcher to hand out again, without using an attempt. Returns the recorded attempts
    in the order of `delivery_ids` (none when not `want_attempts`). Safe to call twice.
    """
    ids = list(dict.fromkeys(delivery_ids))
    if not ids:
        return []
    now = timezone.now()
    lease_until = now + _lease()
    with transaction.atomic():
        _commit_without_flush()
        rows = bulk.claim_for_sending(ids, now=now, lease_until=lease_until)
    if not rows:
        return []
    claimed_at = time.monotonic()
    order = {pk: i for i, pk in enumerate(ids)}
    claimed = sorted((_Claimed(*row[:7], event=row[7:]) for row in rows), key=lambda d: order[d.pk])
    endpoints = Endpoint.objects.in_bulk({d.endpoint_id for d in claimed})
    ready, disabled, deferred = [], [], []
    for delivery in claimed:
        endpoint = delivery.endpoint = endpoints[delivery.endpoint_id]
        if not endpoint.enabled:
            disabled.append(delivery)
        elif _rate_limited(endpoint, now):
            deferred.append(delivery)
        else:
            ready.append(delivery)
    _release(disabled, deferred, lease_until, now)
    if not ready:
        return []
    sent, unsent = _send_batch(ready, now, claimed_at)
    with transaction.atomic():
        _commit_without_flush()
        if unsent:
            # Only while the lease is still ours: nobody else has claimed these since.
            Delivery.objects.filter(pk__in=[d.pk for d in unsent], sending_until=lease_until).update(
                sending_until=None, dispatched_until=None
            )
        return _record_batch(sent, want_attempts=want_attempts)


def _release(disabled: list[_Claimed], deferred: list[_Claimed], lease_until: datetime, now: datetime) -> None:
    """Fail the deliveries of disabled endpoints and defer the rate-limited ones by a second,
    no attempt used; only while their send lease is still this batch's."""
    if not (disabled or deferred):
        return
    with transaction.atomic():
        _commit_without_flush()
        by_endpoint: dict[int, list[_Claimed]] = {}
        for delivery in disabled:
            by_endpoint.setdefault(delivery.endpoint_id, []).append(delivery)
        for group in by_endpoint.values():
            Delivery.objects.filter(
                pk__in=[d.pk for d in group], status=Delivery.Status.PENDING, sending_until=lease_until
            ).update(
                status=Delivery.Status.FAILED,
                next_attempt_at=None,
                completed_at=now,
                last_error=f"Endpoint disabled: {group[0].endpoint.disabled_reason}"[:300],
                dispatched_until=None,
                sending_until=None,
            )
        if deferred:
            # Over the endpoint's per-second limit: try again in the next second.
            Delivery.objects.filter(pk__in=[d.pk for d in deferred], sending_until=lease_until).update(
                next_attempt_at=now + timedelta(seconds=1 + random.random()), dispatched_until=None, sending_until=None
            )


def _send_batch(ready: list[_Claimed], now: datetime, claimed_at: float) -> tuple[list[tuple], list[_Claimed]]:
    """POST each delivery once, from up to SEND_CONCURRENCY threads sharing one keep-alive pool.

    Signing secrets are decrypted once per endpoint and payloads serialised once per event.
    Once half the lease has gone by, no further send starts (the first always does); those
    deliveries come back as unsent. Touches no database: the threads only sign and send.
    """
    stop_after = settings.WEBHOOKS_LEASE_SECONDS / 2
    signing: dict[int, tuple[list[str], dict[str, str]]] = {}
    payloads: dict[int, bytes] = {}
    jobs = []
    for delivery in ready:
        endpoint = delivery.endpoint
        if endpoint.pk not in signing:
            custom = {k: v for k, v in (endpoint.headers or {}).items() if k.lower() not in RESERVED_HEADERS}
            signing[endpoint.pk] = (endpoint.signing_secrets(now), custom)
        if delivery.event_id not in payloads:
            payloads[delivery.event_id] = _payload_of(*delivery.event)
        jobs.append((delivery, *signing[endpoint.pk], payloads[delivery.event_id]))
    results: list[tuple | None] = [None] * len(jobs)
    next_job = iter(range(len(jobs)))
    lock = threading.Lock()

    def sender(pool: webhook_http.Pool) -> None:
        while True:
            with lock:
                i = next(next_job, None)
            if i is None:
                return
            if i and time.monotonic() - claimed_at > stop_after:
                continue
            results[i] = _send(*jobs[i], pool)

    threads = min(SEND_CONCURRENCY, len(jobs))
    with webhook_http.Pool() as pool:
        if threads <= 1:
            sender(pool)
        else:
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhook-send") as executor:
                for future in [executor.submit(sender, pool) for _ in range(threads)]:
                    future.result()
    sent = [(job[0], *result) for job, result in zip(jobs, results, strict=True) if result]
    unsent = [job[0] for job, result in zip(jobs, results, strict=True) if not result]
    return sent, unsent


def _send(delivery: _Claimed, secrets: list[str], custom: dict[str, str], body: bytes, pool: webhook_http.Pool):
    endpoint = delivery.endpoint
    started = timezone.now()
    signed = webhook_signing.headers(
        secrets=secrets, msg_id=delivery.webhook_id, timestamp=int(started.timestamp()), body=body
    )
    outgoing = {**custom, **signed}
    result = webhook_http.post(
        url=endpoint.url, headers=outgoing, body=body, require_https=endpoint.livemode, pool=pool
    )
    sent_headers = result.request_headers
    if not sent_headers:  # refused or unresolvable before a request was built
        try:
            sent_headers = {
                **webhook_http.request_headers(url=endpoint.url, headers=outgoing),
                "Content-Length": str(len(body)),
            }
        except ssrf.BlockedURL:
            sent_headers = outgoing
    return started, sent_headers, body, result


def _record_batch(sent: list[tuple], *, want_attempts: bool = True) -> list[Attempt]:
    """Record a batch's attempts and each delivery's new state, in the caller's transaction.

    One bulk insert of the attempts and one bulk update of the deliveries, each row fenced
    on the attempt_count its batch claimed (a row someone else has moved on is left alone,
    its attempt still recorded). A success completes the delivery; a failure schedules the
    next attempt (retry schedule, Retry-After) or fails it for good. Per endpoint, the
    failing clock follows the batch's attempts in the order they started. The rare side
    effects stay per delivery or endpoint: a 410 disables the endpoint, a last failure is
    audited, an endpoint failing for 5 days is disabled. Returns the attempts as model
    instances when `want_attempts` (the task needs none, and making them was a third of
    this step's CPU).
    """
    now = timezone.now()
    attempts = [
        _attempt_row(*row, public_id=public_id)
        for row, public_id in zip(sent, _public_ids("whatt", len(sent)), strict=True)
    ]
    ids = bulk.insert_attempts(attempts)
    rows: list[tuple] = []  # (pk, seen, status, next_attempt_at, completed_at, last_attempt_at, code, error)
    endpoints: dict[int, Endpoint] = {}
    failing: dict[int, datetime | None] = {}
    gone: set[int] = set()
    given_up: list[tuple[_Claimed, int, Any]] = []
    for delivery, started, _, _, result in sorted(sent, key=lambda row: row[1]):
        endpoint, seen, code = delivery.endpoint, delivery.attempt_count, result.status_code
        endpoints[endpoint.pk] = endpoint
        clock = failing.setdefault(endpoint.pk, endpoint.failing_since)
        if result.ok:
            failing[endpoint.pk] = None
            rows.append((delivery.pk, seen, Delivery.Status.SUCCEEDED.value, None, now, started, code, ""))
            continue
        if clock is None:
            failing[endpoint.pk] = started
        if code == 410:
            gone.add(endpoint.pk)
            delay = None
        else:
            delay = retry_delay(attempts_made=seen + 1, retry_after=result.retry_after if code in (429, 503) else None)
        error = result.error[:300]
        if delay is None:
            given_up.append((delivery, seen + 1, result))
            rows.append((delivery.pk, seen, Delivery.Status.FAILED.value, None, now, started, code, error))
        else:
            next_at = now + timedelta(seconds=delay)
            rows.append((delivery.pk, seen, Delivery.Status.PENDING.value, next_at, None, started, code, error))
    bulk.update_deliveries(rows)
    _update_failing_clocks(endpoints, failing)
    for pk in gone:
        endpoint_disable(endpoint=endpoints[pk], reason="The endpoint answered 410 Gone.", actor=None, notify=True)
    for claimed, number, result in given_up:
        delivery = Delivery.objects.select_related("organization").get(pk=claimed.pk)
        audit_record(
            action="webhook.delivery_failed",
            actor=None,
            organization=delivery.organization,
            target=delivery,
            details={
                "endpoint": claimed.endpoint.public_id,
                "event": claimed.webhook_id,
                "attempts": number,
                "last_error": result.error,
            },
        )
        log.warning(
            "webhook delivery failed for good",
            extra={"delivery": claimed.public_id, "endpoint": claimed.endpoint.public_id, "attempts": number},
        )
    for pk, endpoint in endpoints.items():
        clock = failing[pk]
        if endpoint.enabled and clock and now - clock >= FAILING_DISABLE_AFTER:
            endpoint_disable(
                endpoint=endpoint,
                reason="Every delivery attempt failed for 5 days.",
                actor=None,
                notify=True,
            )
    if not want_attempts:
        return []
    made = [Attempt(pk=pk, **row) for pk, row in zip(ids, attempts, strict=True)]
    for attempt in made:
        attempt._state.adding = False
    return made


def _update_failing_clocks(endpoints: dict[int, Endpoint], failing: dict[int, datetime | None]) -> None:
    """Any success stops an endpoint's failing clock; the first failure after one starts it."""
    stopped = [pk for pk, clock in failing.items() if clock is None and endpoints[pk].failing_since is not None]
    if stopped:
        Endpoint.objects.filter(pk__in=stopped).update(failing_since=None)
    for pk, clock in failing.items():
        endpoint = endpoints[pk]
        if clock is not None and clock != endpoint.failing_since:
            started = Endpoint.objects.filter(pk=pk)
            if endpoint.failing_since is None:
                started = started.filter(failing_since__isnull=True)  # someone else's earlier start stands
            started.update(failing_since=clock)
        endpoint.failing_since = clock


def _attempt_row(delivery: _Claimed, started: datetime, sent_headers, body: bytes, result, public_id: str) -> dict:
    """An attempt's field values (as `bulk.insert_attempts` takes them)."""
    return {
        "public_id": public_id,
        "delivery_id": delivery.pk,
        "number": delivery.attempt_count + 1,
        "started_at": started,
        "url": delivery.endpoint.url,
        "request_headers": sent_headers,
        "request_body": body.decode(),
        "status_code": result.status_code,
        "latency_ms": result.latency_ms,
        "response_headers": result.headers,
        "response_body": result.body[: webhook_http.MAX_RESPONSE_BYTES].decode("utf-8", "replace"),
        "error_class": result.error_class,
        "error": result.error,
        "succeeded": result.ok,
    }


# ---- endpoints ---------------------------------------------------------------------------


def _clean_endpoint_fields(
    *, url: str, livemode: bool, event_types: Iterable[str], headers: dict[str, str], rate_limit_per_second
) -> tuple[list[str], dict[str, str]]:
    errors: dict[str, list[str]] = {}
    try:
        ssrf.check_url(url, allow_private=settings.WEBHOOKS_ALLOW_PRIVATE_URLS, require_https=livemode)
    except ssrf.BlockedURL as exc:
        errors["url"] = [str(exc)]
    types = list(dict.fromkeys(event_types or []))
    unknown = [t for t in types if t not in catalogue.BY_NAME]
    if unknown:
        errors["event_types"] = [f"Unknown event types: {', '.join(unknown)}."]
    headers = dict(headers or {})
    if len(headers) > MAX_CUSTOM_HEADERS:
        errors["headers"] = [f"At most {MAX_CUSTOM_HEADERS} custom headers."]
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            errors.setdefault("headers", []).append("Header names and values are strings.")
        elif name.lower() in RESERVED_HEADERS:
            errors.setdefault("headers", []).append(f"{name} is set by the portal and cannot be overridden.")
        elif not name or any(c in name for c in " :\r\n\t") or any(c in value for c in "\r\n"):
            errors.setdefault("headers", []).append(f"{name!r} is not a valid header.")
    if rate_limit_per_second is not None and rate_limit_per_second < 1:
        errors["rate_limit_per_second"] = ["Must be at least 1."]
    if errors:
        raise ValidationError(errors)
    return types, headers


def endpoint_create(
    *,
    organization: Organization,
    actor: User | None,
    livemode: bool,
    url: str,
    description: str = "",
    event_types: Iterable[str] = (),
    headers: dict[str, str] | None = None,
    rate_limit_per_second: int | None = None,
    meta: RequestMeta = SYSTEM,
) -> Endpoint:
    types, headers = _clean_endpoint_fields(
        url=url, livemode=livemode, event_types=event_types, headers=headers or {},
        rate_limit_per_second=rate_limit_per_second,
    )  # fmt: skip
    endpoint = Endpoint(
        organization=organization,
        livemode=livemode,
        url=url,
        description=description,
        event_types=types,
        headers=headers,
        rate_limit_per_second=rate_limit_per_second,
    )
    endpoint.set_secret(webhook_signing.generate_secret())
    with transaction.atomic():
        endpoint.save()
        audit_record(
            action="webhook.endpoint_created",
            actor=actor,
            organization=organization,
            meta=meta,
            target=endpoint,
            details={"url": url, "livemode": livemode},
        )
    return endpoint


def endpoint_update(*, endpoint: Endpoint, actor: User | None, meta: RequestMeta = SYSTEM, **changes: Any) -> Endpoint:
    allowed = {"url", "description", "event_types", "headers", "rate_limit_per_second"}
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"endpoint_update got unexpected fields {sorted(unknown)}")
    merged = {name: changes.get(name, getattr(endpoint, name)) for name in allowed}
    types, headers = _clean_endpoint_fields(
        url=merged["url"], livemode=endpoint.livemode, event_types=merged["event_types"], headers=merged["headers"],
        rate_limit_per_second=merged["rate_limit_per_second"],
    )  # fmt: skip
    merged["event_types"], merged["headers"] = types, headers
    for name, value in merged.items():
        setattr(endpoint, name, value)
    endpoint.updated_at = timezone.now()
    with transaction.atomic():
        endpoint.save(update_fields=[*allowed, "updated_at"])
        audit_record(
            action="webhook.endpoint_updated",
            actor=actor,
            organization=endpoint.organization,
            meta=meta,
            target=endpoint,
            details={"fields": sorted(changes)},
        )
    return endpoint


def endpoint_delete(*, endpoint: Endpoint, actor: User | None, meta: RequestMeta = SYSTEM) -> None:
    with transaction.atomic():
        audit_record(
            action="webhook.endpoint_deleted",
            actor=actor,
            organization=endpoint.organization,
            meta=meta,
            target=endpoint,
            details={"url": endpoint.url},
        )
        endpoint.delete()


def endpoint_disable(
    *, endpoint: Endpoint, reason: str, actor: User | None, notify: bool = False, meta: RequestMeta = SYSTEM
) -> Endpoint:
    now = timezone.now()
    with transaction.atomic():
        changed = Endpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
            enabled=False, disabled_reason=reason[:200], disabled_at=now, updated_at=now
        )
        endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = False, reason[:200], now
        if not changed:
            return endpoint
        audit_record(
            action="webhook.endpoint_disabled",
            actor=actor,
            organization=endpoint.organization,
            meta=meta,
            target=endpoint,
            details={"reason": reason},
        )
        if notify:
            admins = Membership.objects.filter(
                organization_id=endpoint.organization_id, role__in=["owner", "admin"]
            ).select_related("user")
            send_templated_email(
                to=[m.user.email for m in admins],
                template="webhook_endpoint_disabled",
                context={
                    "organization": endpoint.organization.name,
                    "endpoint_url": endpoint.url,
                    "reason": reason,
                    "link": absolute_url(f"/webhooks/endpoints/{endpoint.public_id}/"),
                },
            )
    return endpoint


def endpoint_enable(*, endpoint: Endpoint, actor: User | None, meta: RequestMeta = SYSTEM) -> Endpoint:
    now = timezone.now()
    with transaction.atomic():
        Endpoint.objects.filter(pk=endpoint.pk).update(
            enabled=True, disabled_reason="", disabled_at=None, failing_since=None, updated_at=now
        )
        endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at, endpoint.failing_since = True, "", None, None
        audit_record(
            action="webhook.endpoint_enabled", actor=actor, organization=endpoint.organization, meta=meta,
            target=endpoint,
        )  # fmt: skip
    return endpoint


def endpoint_rotate_secret(*, endpoint: Endpoint, actor: User | None, meta: RequestMeta = SYSTEM) -> str:
    """A new secret signs from now on; the old one also signs for 24 hours."""
    secret = webhook_signing.generate_secret()
    now = timezone.now()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_valid_until = now + ROTATION_GRACE
    endpoint.set_secret(secret)
    endpoint.updated_at = now
    with transaction.atomic():
        endpoint.save(
            update_fields=["secret_encrypted", "previous_secret_encrypted", "previous_secret_valid_until", "updated_at"]
        )
        audit_record(
            action="webhook.secret_rotated", actor=actor, organization=endpoint.organization, meta=meta,
            target=endpoint,
        )  # fmt: skip
    return secret


def endpoint_reveal_secret(*, endpoint: Endpoint, actor: User | None, meta: RequestMeta = SYSTEM) -> str:
    audit_record(
        action="webhook.secret_revealed", actor=actor, organization=endpoint.organization, meta=meta, target=endpoint
    )
    return endpoint.secret


def endpoint_send_test(*, endpoint: Endpoint, actor: User | None, type: str = "webhook.test") -> Delivery:
    """Record a `webhook.test` event (carrying the chosen type's example) and deliver it to this endpoint only."""
    requested = catalogue.get(type)
    data = {"message": "This is a test event from the developer portal."}
    if requested.name != "webhook.test":
        data |= {"requested_type": requested.name, "example": requested.example}
    now = timezone.now()
    with transaction.atomic():
        event = Event.objects.create(
            organization=endpoint.organization, livemode=endpoint.livemode, type="webhook.test", data=data,
            fanned_out_at=now,
        )  # fmt: skip
        delivery = _new_delivery(event, endpoint, now)
        delivery.save()
        delivery_id = delivery.pk
        transaction.on_commit(lambda: _dispatch_one(delivery_id), robust=True)
    return delivery


def _dispatch_one(delivery_id: int) -> None:
    from webhooks.tasks import send_delivery

    now = timezone.now()
    claimed = (
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING)
        .filter(Q(dispatched_until__isnull=True) | Q(dispatched_until__lt=now))
        .update(dispatched_until=now + _lease())
    )
    if claimed:
        send_delivery.delay(delivery_id)


# ---- retries, resends and recovery ---------------------------------------------------------


def delivery_retry(*, delivery: Delivery, actor: User | None, meta: RequestMeta = SYSTEM) -> Delivery:
    """Attempt now: a pending delivery jumps its wait; a finished one gets one more attempt."""
    now = timezone.now()
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.PENDING, next_attempt_at=now, completed_at=None, dispatched_until=None
        )
        audit_record(
            action="webhook.delivery_retried", actor=actor, organization=delivery.organization, meta=meta,
            target=delivery,
        )  # fmt: skip
        transaction.on_commit(lambda: _dispatch_one(delivery.pk), robust=True)
    delivery.refresh_from_db()
    return delivery


def deliveries_recover(*, endpoint: Endpoint, since: datetime, actor: User | None, meta: RequestMeta = SYSTEM) -> int:
    """Give every failed delivery of the endpoint since `since` a new attempt now."""
    now = timezone.now()
    with transaction.atomic():
        count = Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.FAILED, created_at__gte=since).update(
            status=Delivery.Status.PENDING, next_attempt_at=now, completed_at=None, dispatched_until=None
        )
        audit_record(
            action="webhook.deliveries_recovered",
            actor=actor,
            organization=endpoint.organization,
            meta=meta,
            target=endpoint,
            details={"since": since.isoformat(), "count": count},
        )
    return count


def event_resend(*, event: Event, endpoint: Endpoint, actor: User | None, meta: RequestMeta = SYSTEM) -> Delivery:
    """Send an event to an endpoint again: a new delivery carrying the same webhook-id."""
    if endpoint.organization_id != event.organization_id or endpoint.livemode != event.livemode:
        raise ValidationError({"endpoint": ["The endpoint and the event belong to different environments."]})
    now = timezone.now()
    with transaction.atomic():
        delivery = _new_delivery(event, endpoint, now, is_resend=True)
        delivery.save()
        audit_record(
            action="webhook.event_resent", actor=actor, organization=event.organization, meta=meta,
            target=delivery, details={"event": event.public_id, "endpoint": endpoint.public_id},
        )  # fmt: skip
        delivery_id = delivery.pk
        transaction.on_commit(lambda: _dispatch_one(delivery_id), robust=True)
    return delivery


# ---- housekeeping ---------------------------------------------------------------------------


def webhooks_purge_old(*, older_than: timedelta = timedelta(days=30)) -> int:
    """Forget finished events (and their deliveries and attempts) older than 30 days."""
    cutoff = timezone.now() - older_than
    old = Event.objects.filter(created_at__lt=cutoff).exclude(deliveries__status=Delivery.Status.PENDING)
    return Event.objects.filter(pk__in=list(old.values_list("pk", flat=True)[:5000])).delete()[0]


# ---- the built-in test receiver -------------------------------------------------------------


def receiver_for(*, organization: Organization) -> Receiver:
    receiver, _ = Receiver.objects.get_or_create(organization=organization)
    return receiver


def receiver_url(receiver: Receiver) -> str:
    return absolute_url(f"/webhooks/receiver/{receiver.token}/")


def receiver_store(*, receiver: Receiver, headers: dict[str, str], body: bytes) -> ReceivedRequest:
    """Keep a received request (the last 50 per organisation), noting which endpoint's secret verifies it."""
    verified = None
    lowered = {k.lower(): v for k, v in headers.items()}
    if "webhook-signature" in lowered:
        for endpoint in Endpoint.objects.filter(organization_id=receiver.organization_id):
            try:
                secrets = endpoint.signing_secrets()
            except Exception:  # noqa: S112  (an undecryptable secret simply does not verify)
                continue
            for secret in secrets:
                try:
                    webhook_signing.verify(secret=secret, headers=lowered, body=body)
                except (webhook_signing.SignatureError, ValueError):
                    continue
                verified = endpoint
                break
            if verified:
                break
    with transaction.atomic():
        received = ReceivedRequest.objects.create(
            receiver=receiver,
            headers=headers,
            body=body[:65536].decode("utf-8", "replace"),
            webhook_id=lowered.get("webhook-id", "")[:64],
            verified_endpoint=verified,
        )
        keep = list(receiver.requests.order_by("-received_at", "-id").values_list("pk", flat=True)[:RECEIVER_KEEP])
        receiver.requests.exclude(pk__in=keep).delete()
    return received


def receiver_clear(*, receiver: Receiver) -> int:
    return receiver.requests.all().delete()[0]
