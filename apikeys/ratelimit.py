"""Rate limiting on the request path: one Redis round trip, or an in-process limiter.

Algorithm: GCRA per tier (docs: apikeys/DECISIONS_DRAFT.md). A tier allows `limit`
requests per `window` seconds, refilled continuously, with room for `burst` more at
once, so its capacity (what `X-RateLimit-Limit` shows) is limit + burst. A request
must pass every tier that applies; if one refuses, none is charged.

In the services profile `ratelimit.lua` does, in one EVALSHA: append the capture
records waiting in this process, check the key's revocation marker, check the
penalty box, and run every tier. Without Redis, or while Redis is unreachable, the
`LocalLimiter` applies the same rules per process (docs: "Redis down").
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from django.conf import settings

from apikeys import capture

logger = logging.getLogger(__name__)

LUA_SOURCE = (Path(__file__).parent / "ratelimit.lua").read_text()
# A strike for a subject outside the main script (an IP presenting an invalid key):
# returns the remaining block in ms, 0 when not blocked.
STRIKE_SOURCE = """
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return blocked end
local strikes = redis.call('INCR', KEYS[1])
if strikes == 1 then redis.call('PEXPIRE', KEYS[1], 60000) end
if strikes < tonumber(ARGV[1]) then return 0 end
local level = redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], 86400000)
local block = math.floor(math.min(tonumber(ARGV[2]) * 2 ^ (level - 1), tonumber(ARGV[3])))
redis.call('SET', KEYS[2], level, 'PX', block)
redis.call('DEL', KEYS[1])
return block
"""
CAPTURE_LIST_CAP = 200_000  # records kept in Redis if the flusher stops; oldest dropped first
MAX_RECORDS_PER_CALL = 200  # Lua's unpack() has a stack limit; the rest ride the next call
RETRY_REDIS_AFTER = 5.0  # seconds the circuit stays open after a Redis failure
STRIKE_WINDOW = 60.0


def _floor(value: float) -> int:
    return math.floor(round(value, 6))


def _ceil_ms(value: float) -> int:
    """Round up to a whole millisecond, ignoring float noise (1200000.0000001 is 1200000)."""
    return math.ceil(round(value, 3))


@dataclass(frozen=True)
class Tier:
    name: str  # shown in the IETF headers: "key", "org", "ip", "anon"
    key: str  # the state key, unique per subject
    limit: int
    window: int  # seconds
    burst: int = 0

    @property
    def capacity(self) -> int:
        return self.limit + self.burst

    @property
    def interval_ms(self) -> float:
        return self.window * 1000 / self.limit

    @property
    def policy(self) -> str:
        refill = math.ceil(self.capacity * self.interval_ms / 1000)
        return f'"{self.name}";q={self.capacity};w={refill}'


@dataclass
class Decision:
    allowed: bool
    limit: int = 0
    remaining: int = 0
    reset_ms: int = 0
    retry_ms: int = 0
    tier: Tier | None = None
    tiers: tuple[Tier, ...] = ()
    revoked: bool = False
    blocked: bool = False
    degraded: bool = False
    issued_at: float = field(default_factory=time.time)

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.retry_ms / 1000))

    def headers(self) -> dict[str, str]:
        if self.tier is None:
            return {"Retry-After": str(self.retry_after)} if self.blocked else {}
        reset = math.ceil(self.reset_ms / 1000)
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.issued_at) + reset),
            "RateLimit-Policy": ", ".join(t.policy for t in self.tiers),
            "RateLimit": f'"{self.tier.name}";r={self.remaining};t={reset}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def tiers_for_key(context, ip: str | None) -> list[Tier]:
    """The plan of the key's organisation (per environment), the key's own limit, its IP."""
    tiers = [
        Tier(
            "org",
            f"org:{context.organization_id}:{context.environment}",
            context.plan_requests_per_hour,
            3600,
            context.plan_burst,
        )
    ]
    if context.rate_limit_per_hour:
        tiers.append(Tier("key", f"key:{context.credential_pk}", context.rate_limit_per_hour, 3600))
    if ip:
        tiers.append(Tier("ip", f"ip:{ip}", settings.APIKEY_IP_REQUESTS_PER_MINUTE, 60))
    return tiers


# ---- in-process limiter ------------------------------------------------------------------


class LocalLimiter:
    """The same GCRA, penalties and revocation markers, in this process only."""

    def __init__(self):
        self._lock = threading.Lock()
        self._tats: dict[str, float] = {}
        self._strikes: dict[str, tuple[int, float]] = {}
        self._blocks: dict[str, float] = {}
        self._levels: dict[str, tuple[int, float]] = {}
        self._revoked: dict[str, float] = {}
        self._calls = 0

    @staticmethod
    def _now_ms() -> float:
        return time.monotonic() * 1000

    def mark_revoked(self, lookup_id: str, ttl: float) -> None:
        with self._lock:
            self._revoked[lookup_id] = self._now_ms() + ttl * 1000

    def reset(self) -> None:
        with self._lock:
            self._tats.clear()
            self._strikes.clear()
            self._blocks.clear()
            self._levels.clear()
            self._revoked.clear()

    def lift_block(self, subject: str) -> None:
        with self._lock:
            self._blocks.pop(subject, None)
            self._levels.pop(subject, None)
            self._strikes.pop(subject, None)

    def strike(self, subject: str) -> int:
        """Count an offence outside a limit check; the remaining block in ms, or 0."""
        with self._lock:
            now = self._now_ms()
            blocked_until = self._blocks.get(subject, 0)
            if blocked_until <= now:
                self._strike(subject, now)
                blocked_until = self._blocks.get(subject, 0)
            return _ceil_ms(blocked_until - now) if blocked_until > now else 0

    def check(
        self, *, tiers: list[Tier], cost: int, subject: str, lookup_id: str | None, ip_subject: str | None = None
    ) -> Decision:
        with self._lock:
            now = self._now_ms()
            self._calls += 1
            if self._calls % 1000 == 0:
                self._prune(now)
            if lookup_id and self._revoked.get(lookup_id, 0) > now:
                return Decision(allowed=False, revoked=True)
            blocked_until = max(self._blocks.get(subject, 0), self._blocks.get(ip_subject or "", 0))
            if blocked_until > now:
                return Decision(allowed=False, blocked=True, retry_ms=_ceil_ms(blocked_until - now))
            results = []
            denied: tuple[float, int] | None = None
            for index, tier in enumerate(tiers):
                interval = tier.interval_ms
                tau = interval * tier.capacity
                tat = max(self._tats.get(tier.key, now), now)
                new_tat = tat + interval * cost
                allow_at = new_tat - tau
                if allow_at - now > 0.001:  # float noise is not a denial
                    if denied is None or allow_at - now > denied[0]:
                        denied = (allow_at - now, index)
                    results.append((tier, _floor((tau - (tat - now)) / interval), tat - now, new_tat))
                else:
                    results.append((tier, _floor((tau - (new_tat - now)) / interval), new_tat - now, new_tat))
            if denied is not None:
                tier, _, reset, _ = results[denied[1]]
                self._strike(subject, now)
                return Decision(
                    allowed=False,
                    limit=tier.capacity,
                    remaining=0,
                    reset_ms=_ceil_ms(reset),
                    retry_ms=_ceil_ms(denied[0]),
                    tier=tier,
                    tiers=tuple(tiers),
                )
            for tier, _, _, new_tat in results:
                self._tats[tier.key] = new_tat
            tier, remaining, reset, _ = min(results, key=lambda item: item[1])
            return Decision(
                allowed=True,
                limit=tier.capacity,
                remaining=max(remaining, 0),
                reset_ms=_ceil_ms(reset),
                tier=tier,
                tiers=tuple(tiers),
            )

    def _strike(self, subject: str, now: float) -> None:
        count, expires = self._strikes.get(subject, (0, 0.0))
        count = count + 1 if expires > now else 1
        expires = expires if count > 1 else now + STRIKE_WINDOW * 1000
        if count >= settings.APIKEY_PENALTY_THRESHOLD:
            level, level_expires = self._levels.get(subject, (0, 0.0))
            level = level + 1 if level_expires > now else 1
            self._levels[subject] = (level, now + 86_400_000)
            block = min(settings.APIKEY_PENALTY_BASE_SECONDS * 2 ** (level - 1), settings.APIKEY_PENALTY_MAX_SECONDS)
            self._blocks[subject] = now + block * 1000
            self._strikes.pop(subject, None)
        else:
            self._strikes[subject] = (count, expires)

    def _prune(self, now: float) -> None:
        self._tats = {k: v for k, v in self._tats.items() if v > now}
        self._strikes = {k: v for k, v in self._strikes.items() if v[1] > now}
        self._blocks = {k: v for k, v in self._blocks.items() if v > now}
        self._levels = {k: v for k, v in self._levels.items() if v[1] > now}
        self._revoked = {k: v for k, v in self._revoked.items() if v > now}


# ---- Redis limiter -----------------------------------------------------------------------


class RedisLimiter:
    def __init__(self, url: str, prefix: str = "pk:"):
        self.url = url
        self.prefix = prefix
        self.client = redis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
        )
        self.script = self.client.register_script(LUA_SOURCE)
        self.strike_script = self.client.register_script(STRIKE_SOURCE)

    def revoked_key(self, lookup_id: str) -> str:
        return f"{self.prefix}revoked:{lookup_id}"

    @property
    def capture_key(self) -> str:
        return f"{self.prefix}capture"

    def check(
        self,
        *,
        tiers: list[Tier],
        cost: int,
        subject: str,
        lookup_id: str | None,
        records: list[str],
        ip_subject: str | None = None,
    ) -> Decision:
        p = self.prefix
        keys = [
            self.revoked_key(lookup_id) if lookup_id else f"{p}revoked:-",
            self.capture_key,
            f"{p}strikes:{subject}",
            f"{p}block:{subject}",
            f"{p}level:{subject}",
            f"{p}block:{ip_subject}" if ip_subject else f"{p}block:-",
            *(f"{p}gcra:{tier.key}" for tier in tiers),
        ]
        args: list = [
            cost,
            len(records),
            CAPTURE_LIST_CAP,
            settings.APIKEY_PENALTY_THRESHOLD,
            settings.APIKEY_PENALTY_BASE_SECONDS * 1000,
            settings.APIKEY_PENALTY_MAX_SECONDS * 1000,
            *records,
        ]
        for tier in tiers:
            args.extend([repr(tier.interval_ms), tier.capacity])
        code, limit, remaining, reset_ms, retry_ms, index = self.script(keys=keys, args=args)
        if code == -1:
            return Decision(allowed=False, revoked=True)
        if code == -2:
            return Decision(allowed=False, blocked=True, retry_ms=int(retry_ms))
        return Decision(
            allowed=code == 1,
            limit=int(limit),
            remaining=int(remaining),
            reset_ms=int(reset_ms),
            retry_ms=int(retry_ms),
            tier=tiers[int(index) - 1] if index else None,
            tiers=tuple(tiers),
        )

    def mark_revoked(self, lookup_id: str, ttl: int) -> None:
        self.client.set(self.revoked_key(lookup_id), "1", ex=ttl)

    def strike(self, subject: str) -> int:
        p = self.prefix
        return int(
            self.strike_script(
                keys=[f"{p}strikes:{subject}", f"{p}block:{subject}", f"{p}level:{subject}"],
                args=[
                    settings.APIKEY_PENALTY_THRESHOLD,
                    settings.APIKEY_PENALTY_BASE_SECONDS * 1000,
                    settings.APIKEY_PENALTY_MAX_SECONDS * 1000,
                ],
            )
        )

    def push_records(self, records: list[str]) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.rpush(self.capture_key, *records)
        pipe.ltrim(self.capture_key, -CAPTURE_LIST_CAP, -1)
        pipe.execute()

    def pop_records(self, count: int) -> list[str]:
        return [item.decode() for item in (self.client.lpop(self.capture_key, count) or [])]

    def lift_block(self, subject: str) -> None:
        p = self.prefix
        self.client.delete(f"{p}block:{subject}", f"{p}level:{subject}", f"{p}strikes:{subject}")


class Limiter:
    """Redis when configured and reachable, otherwise the local limiter; never raises."""

    def __init__(self):
        self.local = LocalLimiter()
        self._redis: RedisLimiter | None = None
        self._pid = 0
        self._down_until = 0.0
        self.prefix = "pk:"

    @property
    def redis(self) -> RedisLimiter | None:
        url = settings.APIKEY_REDIS_URL
        if not url:
            return None
        if (
            self._redis is None
            or self._pid != os.getpid()
            or self._redis.url != url
            or self._redis.prefix != self.prefix
        ):
            self._redis = RedisLimiter(url, self.prefix)
            self._pid = os.getpid()
        return self._redis

    def _available(self) -> RedisLimiter | None:
        backend = self.redis
        if backend is None or time.monotonic() < self._down_until:
            return None
        return backend

    def _degrade(self, exc: Exception) -> None:
        self._down_until = time.monotonic() + RETRY_REDIS_AFTER
        logger.warning(
            "Redis is unreachable for rate limiting (%s); using the in-process limiter for %ss.",
            exc,
            RETRY_REDIS_AFTER,
        )

    def check(
        self, *, tiers: list[Tier], cost: int, subject: str, lookup_id: str | None, ip_subject: str | None = None
    ) -> Decision:
        backend = self._available()
        if backend is not None:
            records = capture.buffer.take(MAX_RECORDS_PER_CALL)
            try:
                return backend.check(
                    tiers=tiers,
                    cost=cost,
                    subject=subject,
                    lookup_id=lookup_id,
                    records=records,
                    ip_subject=ip_subject,
                )
            except redis.RedisError as exc:
                capture.buffer.put_back(records)
                self._degrade(exc)
        decision = self.local.check(tiers=tiers, cost=cost, subject=subject, lookup_id=lookup_id, ip_subject=ip_subject)
        decision.degraded = self.redis is not None
        return decision

    def strike(self, subject: str) -> int:
        """An offence outside a limit check (an invalid credential); the block in ms, or 0."""
        backend = self._available()
        if backend is not None:
            try:
                return backend.strike(subject)
            except redis.RedisError as exc:
                self._degrade(exc)
        return self.local.strike(subject)

    def mark_revoked(self, lookup_id: str) -> None:
        # The marker must outlive every process's cached copy of the key row.
        ttl = 2 * settings.APIKEY_CACHE_TTL + 10
        self.local.mark_revoked(lookup_id, ttl)
        backend = self.redis
        if backend is not None:
            try:
                backend.mark_revoked(lookup_id, ttl)
            except redis.RedisError as exc:
                logger.error("Could not set the revocation marker for %s in Redis: %s", lookup_id, exc)

    def ship_records(self, records: list[str]) -> bool:
        """Push captured records to Redis outside a request (the idle shipper)."""
        backend = self._available()
        if backend is None:
            return False
        try:
            backend.push_records(records)
        except redis.RedisError as exc:
            self._degrade(exc)
            return False
        return True

    def lift_block(self, subject: str) -> None:
        self.local.lift_block(subject)
        backend = self.redis
        if backend is not None:
            backend.lift_block(subject)


limiter = Limiter()


# ---- penalty blocks, for the portal's "Blocked" page ----------------------------------------


@dataclass(frozen=True)
class Block:
    subject: str  # "key:<pk>" or "ip:<address>"
    remaining_ms: int
    level: int  # 1 for a first block; each repeat within 24 h doubles the period


def block_list(subjects: list[str]) -> list[Block]:
    """The penalty blocks in force among `subjects`, longest remaining first.

    Reads this process's local limiter and, when Redis is configured and reachable, Redis
    (one pipelined round trip); a subject blocked in both shows the longer block.
    """
    found: dict[str, Block] = {}
    local = limiter.local
    with local._lock:
        now = local._now_ms()
        for subject in subjects:
            until = local._blocks.get(subject, 0)
            if until > now:
                level = local._levels.get(subject, (1, 0.0))[0]
                found[subject] = Block(subject, _ceil_ms(until - now), level)
    backend = limiter._available()
    if backend is not None and subjects:
        p = backend.prefix
        pipe = backend.client.pipeline(transaction=False)
        for subject in subjects:
            pipe.pttl(f"{p}block:{subject}")
            pipe.get(f"{p}level:{subject}")
        try:
            replies = pipe.execute()
        except redis.RedisError as exc:
            limiter._degrade(exc)
            replies = []
        for index, subject in enumerate(subjects[: len(replies) // 2]):
            remaining, level = replies[2 * index], replies[2 * index + 1]
            if remaining and remaining > 0 and remaining > getattr(found.get(subject), "remaining_ms", 0):
                found[subject] = Block(subject, int(remaining), int(level or 1))
    return sorted(found.values(), key=lambda block: -block.remaining_ms)


def block_list_all(*, limit: int = 500) -> list[Block]:
    """Every penalty block in force (staff view): this process's and, with Redis, all of
    them, found by a bounded SCAN of the block keys."""
    subjects = set(limiter.local._blocks)
    backend = limiter._available()
    if backend is not None:
        pattern = f"{backend.prefix}block:*"
        start = len(backend.prefix) + len("block:")
        try:
            for index, raw in enumerate(backend.client.scan_iter(match=pattern, count=500)):
                if index >= limit:
                    break
                subjects.add(raw.decode()[start:])
        except redis.RedisError as exc:
            limiter._degrade(exc)
    return block_list(sorted(subjects))[:limit]
