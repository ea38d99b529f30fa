"""The hot statements of the delivery path: the outbox row, deliveries born in bulk at fan-out,
and a send batch's attempts and new delivery states recorded in bulk (docs/decisions.md,
"Webhook delivery throughput").

On PostgreSQL each bulk write is one statement whose rows travel as one JSON document
(`jsonb_to_recordset`): the ORM's per-row model and field work, and psycopg's per-value
quoting on the client, were most of a delivery's CPU in the worker and the recorder.
Elsewhere (SQLite, the embedded profile) the bulk writes go through the ORM. Both paths
write the same rows; the tests run in both profiles. None of these writes sends model
signals (as with `bulk_create`); the project connects none to these models.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import connection

from webhooks.models import Attempt, Delivery, Event


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _text(value: str) -> str:
    # PostgreSQL text (and jsonb) cannot hold NUL, which a receiver's answer may contain.
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# ---- the outbox row -------------------------------------------------------------------------------

_INSERT_EVENT = """
INSERT INTO {event} (public_id, organization_id, livemode, type, data, created_at)
VALUES (%s, %s, %s, %s, CAST(%s AS jsonb), %s)
RETURNING id
"""


def insert_event(event: Event) -> None:
    """INSERT an unsaved event in the caller's transaction and set its pk: on PostgreSQL one
    statement without the model-save machinery (the same row `event.save()` writes)."""
    if not _postgres():
        event.save()
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_EVENT.format(event=_table(Event)),
            [event.public_id, event.organization_id, event.livemode, event.type, json.dumps(event.data),
             event.created_at],
        )  # fmt: skip
        event.pk = cursor.fetchone()[0]
    event._state.adding = False


# ---- the fan-out -----------------------------------------------------------------------------------

_LOCK_UNFANNED = """
SELECT id, organization_id, livemode, type FROM {event}
WHERE id = ANY(%s::bigint[]) AND fanned_out_at IS NULL
FOR UPDATE SKIP LOCKED
"""


def lock_unfanned_events(event_ids: list[int]) -> list[tuple[int, int, bool, str]]:
    """(id, organization id, livemode, type) of those of these events not fanned out yet,
    locked for this transaction; an event another fan-out holds is skipped (SKIP LOCKED)."""
    if not _postgres():
        return list(
            Event.objects.filter(pk__in=event_ids, fanned_out_at__isnull=True)
            .select_for_update(skip_locked=True)
            .values_list("pk", "organization_id", "livemode", "type")
        )
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_UNFANNED.format(event=_table(Event)), [event_ids])
        return [tuple(row) for row in cursor.fetchall()]


_MARK_FANNED_OUT = "UPDATE {event} SET fanned_out_at = %s WHERE id = ANY(%s::bigint[])"


def mark_fanned_out(event_ids: list[int], now: datetime) -> None:
    if not _postgres():
        Event.objects.filter(pk__in=event_ids).update(fanned_out_at=now)
        return
    with connection.cursor() as cursor:
        cursor.execute(_MARK_FANNED_OUT.format(event=_table(Event)), [now, event_ids])


# ---- deliveries born at fan-out -----------------------------------------------------------------

_INSERT_DELIVERIES = """
INSERT INTO {delivery} (
    public_id, organization_id, event_id, endpoint_id, event_type, livemode, webhook_id, is_resend,
    status, attempt_count, next_attempt_at, dispatched_until, last_error, created_at
)
SELECT v.public_id, e.organization_id, e.id, v.endpoint_id, e.type, e.livemode, e.public_id, false,
       %s, 0, %s, %s, '', %s
FROM jsonb_to_recordset(%s::jsonb) AS v(public_id text, event_id bigint, endpoint_id bigint)
JOIN {event} AS e ON e.id = v.event_id
ON CONFLICT DO NOTHING
RETURNING id, endpoint_id, event_id
"""


def insert_deliveries(
    rows: list[tuple[str, int, int]], *, now: datetime, dispatched_until: datetime | None
) -> list[tuple[int, int, int]]:
    """Original deliveries of (public id, event id, endpoint id), due now and pending, copying
    the event's organisation, mode, type and webhook-id; one that already exists for the
    (event, endpoint) is skipped. Returns (delivery id, endpoint id, event id) of those made."""
    if not rows:
        return []
    if _postgres():
        document = json.dumps([{"public_id": p, "event_id": ev, "endpoint_id": ep} for p, ev, ep in rows])
        with connection.cursor() as cursor:
            cursor.execute(
                _INSERT_DELIVERIES.format(delivery=_table(Delivery), event=_table(Event)),
                [Delivery.Status.PENDING.value, now, dispatched_until, now, document],
            )
            return [tuple(row) for row in cursor.fetchall()]
    events = {e.pk: e for e in Event.objects.filter(pk__in={ev for _, ev, _ in rows})}
    Delivery.objects.bulk_create(
        [
            Delivery(
                public_id=public_id,
                organization_id=events[event_id].organization_id,
                event_id=event_id,
                endpoint_id=endpoint_id,
                event_type=events[event_id].type,
                livemode=events[event_id].livemode,
                webhook_id=events[event_id].public_id,
                next_attempt_at=now,
                dispatched_until=dispatched_until,
                created_at=now,
            )
            for public_id, event_id, endpoint_id in rows
        ],
        ignore_conflicts=True,
    )
    made = Delivery.objects.filter(public_id__in=[public_id for public_id, _, _ in rows])
    return list(made.values_list("pk", "endpoint_id", "event_id"))


# ---- a send batch's claim ---------------------------------------------------------------------

_CLAIM = """
WITH claimed AS (
    SELECT id FROM {delivery}
    WHERE id = ANY(%s::bigint[]) AND status = %s AND next_attempt_at <= %s
      AND (sending_until IS NULL OR sending_until < %s)
    FOR UPDATE SKIP LOCKED
)
UPDATE {delivery} AS d SET sending_until = %s
FROM claimed, {event} AS e
WHERE d.id = claimed.id AND e.id = d.event_id
RETURNING d.id, d.public_id, d.organization_id, d.endpoint_id, d.event_id, d.webhook_id, d.attempt_count,
          e.public_id, e.type, e.created_at, e.livemode, e.data::text
"""

CLAIMED_FIELDS = (
    "pk", "public_id", "organization_id", "endpoint_id", "event_id", "webhook_id", "attempt_count",
    "event__public_id", "event__type", "event__created_at", "event__livemode", "event__data",
)  # fmt: skip


def claim_for_sending(ids: list[int], *, now, lease_until) -> list[tuple]:
    """Take the send lease of those of these deliveries that are pending, due, and neither
    leased nor locked by another sender (FOR UPDATE SKIP LOCKED, on the deliveries only);
    for each, the CLAIMED_FIELDS (its event's data decoded). Call inside a transaction."""
    if not _postgres():
        from django.db.models import Q

        rows = list(
            Delivery.objects.filter(pk__in=ids, status=Delivery.Status.PENDING, next_attempt_at__lte=now)
            .filter(Q(sending_until__isnull=True) | Q(sending_until__lt=now))
            .select_for_update(skip_locked=True, of=("self",))
            .values_list(*CLAIMED_FIELDS)
        )
        if rows:
            Delivery.objects.filter(pk__in=[row[0] for row in rows]).update(sending_until=lease_until)
        return rows
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM.format(delivery=_table(Delivery), event=_table(Event)),
            [ids, Delivery.Status.PENDING.value, now, now, lease_until],
        )
        rows = cursor.fetchall()
    data: dict[int, object] = {}  # an event's data is decoded once, however many endpoints it goes to
    for row in rows:
        if row[4] not in data:
            data[row[4]] = json.loads(row[11])
    return [(*row[:11], data[row[4]]) for row in rows]


# ---- a send batch's record ---------------------------------------------------------------------

_INSERT_ATTEMPTS = """
INSERT INTO {attempt} (
    public_id, delivery_id, number, started_at, url, request_headers, request_body, status_code, latency_ms,
    response_headers, response_body, error_class, error, succeeded
)
SELECT public_id, delivery_id, number, started_at, url, request_headers, request_body, status_code, latency_ms,
       response_headers, response_body, error_class, error, succeeded
FROM jsonb_to_recordset(%s::jsonb) AS v(
    public_id text, delivery_id bigint, number smallint, started_at timestamptz, url text, request_headers jsonb,
    request_body text, status_code smallint, latency_ms integer, response_headers jsonb, response_body text,
    error_class text, error text, succeeded boolean
)
RETURNING id, public_id
"""


def insert_attempts(rows: list[dict]) -> list[int]:
    """Insert attempts given as field values (Attempt's field names, `delivery_id` for the
    delivery) in one statement; their ids, in order."""
    if not rows:
        return []
    if not _postgres():
        return [a.pk for a in Attempt.objects.bulk_create([Attempt(**row) for row in rows])]
    document = json.dumps([{**row, "started_at": _iso(row["started_at"])} for row in rows])
    if "\\u0000" in document:  # rare: scrub NULs field by field, then serialise again
        document = json.dumps([{**_scrubbed(row), "started_at": _iso(row["started_at"])} for row in rows])
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_ATTEMPTS.format(attempt=_table(Attempt)), [document])
        ids = {public_id: pk for pk, public_id in cursor.fetchall()}
    return [ids[row["public_id"]] for row in rows]


def _scrubbed(value):
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_scrubbed(k): _scrubbed(v) for k, v in value.items()}
    return value


_UPDATE_DELIVERIES = """
UPDATE {delivery} AS d SET
    status = v.status,
    attempt_count = v.seen + 1,
    next_attempt_at = v.next_attempt_at,
    completed_at = v.completed_at,
    last_attempt_at = v.last_attempt_at,
    last_status_code = v.code,
    last_error = v.error,
    sending_until = NULL,
    dispatched_until = NULL
FROM jsonb_to_recordset(%s::jsonb) AS v(
    id bigint, seen integer, status text, next_attempt_at timestamptz, completed_at timestamptz,
    last_attempt_at timestamptz, code smallint, error text
)
WHERE d.id = v.id AND d.attempt_count = v.seen
"""


def update_deliveries(rows: list[tuple]) -> None:
    """Each delivery's state after its attempt: rows of (id, claimed attempt_count, status,
    next_attempt_at, completed_at, last_attempt_at, status code, error). A row is written only
    while its attempt_count is still the claimed one, and its leases are cleared."""
    if not rows:
        return
    if not _postgres():
        for pk, seen, status, next_at, completed_at, last_at, code, error in rows:
            Delivery.objects.filter(pk=pk, attempt_count=seen).update(
                status=status,
                attempt_count=seen + 1,
                next_attempt_at=next_at,
                completed_at=completed_at,
                last_attempt_at=last_at,
                last_status_code=code,
                last_error=error,
                sending_until=None,
                dispatched_until=None,
            )
        return
    names = ("id", "seen", "status", "next_attempt_at", "completed_at", "last_attempt_at", "code", "error")
    document = json.dumps(
        [
            dict(zip(names, (pk, seen, status, _iso(next_at), _iso(done), _iso(last), code, _text(error)), strict=True))
            for pk, seen, status, next_at, done, last, code, error in rows
        ]
    )  # an error is our own text or an exception's; _text() keeps a NUL in one from failing the batch
    with connection.cursor() as cursor:
        cursor.execute(_UPDATE_DELIVERIES.format(delivery=_table(Delivery)), [document])
