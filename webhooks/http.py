"""The one outbound HTTP path for webhook deliveries.

`post()` checks and resolves the URL through the SSRF guard, connects to the checked
address (Host header and TLS SNI/certificate name stay the URL's host), sends once,
never follows a redirect, reads at most 4 KB of the response, and classifies every
failure. Connect timeout 5 s; the whole exchange gets a 15 s budget, re-armed on the
socket before each phase. Tests replace nothing here: they point endpoints at a
receiver on 127.0.0.1 with private addresses allowed.
"""

from __future__ import annotations

import http.client
import math
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from django.conf import settings

from portal.lib import ssrf

CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0
MAX_RESPONSE_BYTES = 4096
USER_AGENT = "DeveloperPortal-Webhooks/1.0"


@dataclass
class Result:
    status_code: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error_class: str = ""  # "", dns, connection, tls, timeout, blocked, 3xx, 4xx, 5xx, protocol
    error: str = ""
    latency_ms: int = 0
    # The exact headers sent (as `request_headers` builds them, with Content-Length); empty
    # when the URL was refused before any request was built.
    request_headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.error_class and self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retry_after(self) -> int | None:
        """Seconds from a `Retry-After` header: delay-seconds or an HTTP-date (RFC 9110, 10.2.3)."""
        raw = self.headers.get("retry-after", "").strip()
        if raw.isdigit():
            return int(raw)
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # an HTTP-date is always GMT
            when = when.replace(tzinfo=UTC)
        return max(0, math.ceil((when - datetime.now(UTC)).total_seconds()))


def classify_status(status: int) -> str:
    if 200 <= status < 300:
        return ""
    if 300 <= status < 400:
        return "3xx"
    if 400 <= status < 500:
        return "4xx"
    if status >= 500:
        return "5xx"
    return "protocol"


def classify_exception(exc: BaseException) -> str:
    if isinstance(exc, ssrf.BlockedURL):
        return "dns" if exc.reason == "dns" else "blocked"
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return "tls"
    if isinstance(exc, http.client.HTTPException):
        return "protocol"
    return "connection"


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: ssrf.Target):
        super().__init__(target.host, target.port, timeout=CONNECT_TIMEOUT)
        self._address = target.address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: ssrf.Target):
        super().__init__(target.host, target.port, timeout=CONNECT_TIMEOUT, context=ssl.create_default_context())
        self._address = target.address

    def connect(self):
        raw = socket.create_connection((self._address, self.port), self.timeout)
        # The certificate is checked against the URL's host name, not the address.
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def _host_header(target: ssrf.Target) -> str:
    default = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default else f"{host}:{target.port}"


def request_headers(*, url: str, headers: dict[str, str]) -> dict[str, str]:
    """The exact headers `post` sends (recorded on the attempt)."""
    scheme, host, port, _ = ssrf.check_url(url, allow_private=True)
    target = ssrf.Target(scheme, host, port, "/", host)
    return {
        "Host": _host_header(target),
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json",
        **headers,
    }


class Pool:
    """Keep-alive connections for one batch of sends, reused per checked address, and the
    SSRF guard's answer for each URL of the batch (checked and resolved once per batch).

    A connection is keyed by (scheme, host name, port, checked address): it is reused
    only for a URL that resolves, through the SSRF guard, to the very address it was
    opened to, with the same Host and TLS name. Thread-safe: each concurrent sender takes
    a connection of its own (a new one when none is idle) and gives it back when its
    exchange is complete, so a key holds at most as many connections as there are
    senders. Close it when the batch is done.
    """

    def __init__(self, max_idle_per_key: int = 8):
        self._idle: dict[tuple, list[http.client.HTTPConnection]] = {}
        self._targets: dict[tuple, ssrf.Target | ssrf.BlockedURL] = {}
        self._lock = threading.Lock()
        self._max_idle = max_idle_per_key

    def resolve(self, url: str, *, require_https: bool) -> ssrf.Target:
        """The SSRF guard's answer for this URL, checked and resolved once per batch: every send
        of the batch connects to the same checked address (or is refused the same way)."""
        key = (url, require_https, settings.WEBHOOKS_ALLOW_PRIVATE_URLS)
        answer = self._targets.get(key)
        if answer is None:
            try:
                answer = _resolve(url, require_https=require_https)
            except ssrf.BlockedURL as exc:
                answer = exc
            self._targets[key] = answer
        if isinstance(answer, ssrf.BlockedURL):
            raise ssrf.BlockedURL(str(answer), reason=answer.reason)
        return answer

    def take(self, target: ssrf.Target) -> http.client.HTTPConnection | None:
        with self._lock:
            idle = self._idle.get(_pool_key(target))
            return idle.pop() if idle else None

    def give(self, target: ssrf.Target, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(_pool_key(target), [])
            if len(idle) < self._max_idle:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            conns = [conn for idle in self._idle.values() for conn in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _pool_key(target: ssrf.Target) -> tuple:
    return (target.scheme, target.host, target.port, target.address)


# A request on a reused keep-alive connection that fails with one of these before any
# answer most likely met a connection the receiver had already closed: it is sent once
# more on a fresh connection (at-least-once; the webhook-id makes a repeat harmless).
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


def post(
    *, url: str, headers: dict[str, str], body: bytes, require_https: bool = False, pool: Pool | None = None
) -> Result:
    """POST once. With a `pool`, a keep-alive connection to the same checked address is reused."""
    started = time.monotonic()
    deadline = started + TOTAL_TIMEOUT
    result = Result()
    conn = None
    keep = False
    try:
        if pool is not None:
            target = pool.resolve(url, require_https=require_https)
        else:
            target = _resolve(url, require_https=require_https)
        result.request_headers = _sent_headers(target, headers, body)
        conn = pool.take(target) if pool is not None else None
        if conn is not None:
            try:
                response, sock = _exchange(conn, target, result.request_headers, body, deadline)
            except _STALE:
                conn.close()
                conn = None
        if conn is None:
            conn = (_PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection)(target)
            conn.connect()
            response, sock = _exchange(conn, target, result.request_headers, body, deadline)
        result.status_code = response.status
        # raw_items(): the parsed header lines as they came (compat32 would only re-sanitise them).
        result.headers = {k.lower(): v for k, v in response.msg.raw_items()}
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        result.body = response.read(MAX_RESPONSE_BYTES)
        result.error_class = classify_status(response.status)
        if result.error_class:
            result.error = f"HTTP {response.status} {response.reason}"[:300]
        if time.monotonic() > deadline:
            result.error_class, result.error = "timeout", f"No complete answer within {TOTAL_TIMEOUT:.0f} s."
        # Reusable only when the whole response was read and the server keeps the connection open.
        keep = pool is not None and response.isclosed() and not response.will_close and conn.sock is not None
        if keep:
            pool.give(target, conn)
    except Exception as exc:  # every failure is recorded on the attempt, none escapes
        result.error_class = classify_exception(exc)
        result.error = (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:300]
    finally:
        if conn is not None and not keep:
            conn.close()
        result.latency_ms = int((time.monotonic() - started) * 1000)
    return result


def _resolve(url: str, *, require_https: bool) -> ssrf.Target:
    return ssrf.resolve(
        url, allow_private=settings.WEBHOOKS_ALLOW_PRIVATE_URLS, require_https=require_https, timeout=CONNECT_TIMEOUT
    )


def _sent_headers(target: ssrf.Target, headers: dict[str, str], body: bytes) -> dict[str, str]:
    return {
        "Host": _host_header(target),
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json",
        **headers,
        "Content-Length": str(len(body)),
    }


def _exchange(conn, target: ssrf.Target, sent_headers: dict[str, str], body: bytes, deadline: float):
    sock = conn.sock
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    conn.putrequest("POST", target.path, skip_host=True, skip_accept_encoding=True)
    for name, value in sent_headers.items():
        conn.putheader(name, value)
    conn.endheaders(body)
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    # getresponse() may drop conn.sock; the socket stays open until close()
    return conn.getresponse(), sock
