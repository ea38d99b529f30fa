"""The SSRF guard for outbound webhook deliveries (docs/decisions.md, "Webhooks").

`check_url` validates a URL's shape (at endpoint creation and before every send);
`resolve` resolves its host once and returns a `Target` holding the checked address,
and the sender connects to that address, never to the name again, so a DNS answer
that changes between check and connect (DNS rebinding) cannot reach an inner host.

Refused always: schemes other than http and https, credentials in the URL, multicast,
unspecified, broadcast and reserved addresses, IPv4-mapped and NAT64 IPv6 addresses,
and cloud metadata addresses. Refused unless `allow_private` (a development setting):
loopback, private (RFC 1918, unique-local), link-local and carrier-grade NAT.
IP literals in decimal, hex or octal (`2130706433`, `0x7f.1`, `0177.0.0.1`) are
parsed the way inet_aton would and checked like any other address.

Django-free.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
DNS_TIMEOUT = 5.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "169.254.169.123")
)
# Refused even when private addresses are allowed.
ALWAYS_BLOCKED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network", includes the unspecified address
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes the broadcast address
        "::/128",
        "::ffff:0:0/96",  # IPv4-mapped
        "64:ff9b::/96",  # NAT64, embeds an IPv4 address
        "64:ff9b:1::/48",
        "ff00::/8",  # multicast
    )
)
PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "::1/128",
        "fc00::/7",  # unique-local
        "fe80::/10",  # link-local
    )
)
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.IGNORECASE)


class BlockedURL(ValueError):
    """The URL or the address it resolves to may not receive deliveries."""

    def __init__(self, message: str, *, reason: str = "blocked"):
        super().__init__(message)
        self.reason = reason  # "url", "dns" or "blocked"


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # the name, for the Host header and TLS SNI/certificate check
    port: int
    path: str  # path and query, at least "/"
    address: str  # the checked IP address the connection goes to


def parse_numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address written the way inet_aton accepts (1 to 4 parts, decimal/hex/octal)."""
    if not _NUMERIC_HOST.match(host):
        return None
    parts = host.rstrip(".").split(".")
    numbers = []
    for part in parts:
        if part.lower().startswith("0x"):
            numbers.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            try:
                numbers.append(int(part, 8))
            except ValueError:
                return None
        else:
            numbers.append(int(part))
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = 0
    for n in head:
        value = value << 8 | n
    value = value << (8 * (4 - len(head))) | last
    return ipaddress.IPv4Address(value)


def address_problem(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why `address` may not be a delivery target, or None when it may."""
    if address in METADATA:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return "an IPv4-mapped IPv6 address"
    for network in ALWAYS_BLOCKED:
        if address.version == network.version and address in network:
            return f"a reserved address ({network})"
    if not allow_private:
        for network in PRIVATE:
            if address.version == network.version and address in network:
                return f"a private, loopback or link-local address ({network})"
    return None


def check_url(url: str, *, allow_private: bool, require_https: bool = False) -> tuple[str, str, int, str]:
    """Check the URL's shape; return (scheme, host, port, path). Raises BlockedURL."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise BlockedURL(f"A URL of 1 to {MAX_URL_LENGTH} characters is required.", reason="url")
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise BlockedURL("The URL contains spaces or control characters.", reason="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BlockedURL("The URL is malformed.", reason="url") from None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise BlockedURL("Only http and https URLs can receive webhooks.", reason="url")
    if require_https and scheme != "https":
        raise BlockedURL("Live-mode endpoints must use https.", reason="url")
    if parts.username is not None or parts.password is not None:
        raise BlockedURL("Credentials in the URL are not allowed; use a custom header.", reason="url")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BlockedURL("The URL has no host.", reason="url")
    if "%" in host:
        raise BlockedURL("IPv6 zone identifiers are not allowed.", reason="url")
    literal = _literal(host)
    if literal is not None:
        problem = address_problem(literal, allow_private=allow_private)
        if problem:
            raise BlockedURL(f"The URL points at {problem}.")
        host = str(literal)
    elif not allow_private and (host.lower() == "localhost" or host.lower().endswith(".localhost")):
        raise BlockedURL("The URL points at a loopback host.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, port or (443 if scheme == "https" else 80), path


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return parse_numeric_ipv4(host)


Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return [info[4][0] for info in infos]


_dns_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ssrf-dns")


def resolve(
    url: str,
    *,
    allow_private: bool,
    require_https: bool = False,
    resolver: Resolver | None = None,
    timeout: float = DNS_TIMEOUT,
) -> Target:
    """Check the URL, resolve its host once and check every address it resolves to.

    Every address must pass: a name that answers with one public and one private
    address is refused, since a later resolution could pick either.
    """
    scheme, host, port, path = check_url(url, allow_private=allow_private, require_https=require_https)
    literal = _literal(host)
    if literal is not None:
        return Target(scheme, host, port, path, str(literal))
    lookup = resolver or system_resolver
    try:
        addresses = _dns_pool.submit(lookup, host, port).result(timeout=timeout)
    except FutureTimeout:
        raise BlockedURL(f"Resolving {host} timed out.", reason="dns") from None
    except (OSError, UnicodeError) as exc:
        raise BlockedURL(f"{host} does not resolve: {exc}", reason="dns") from None
    if not addresses:
        raise BlockedURL(f"{host} does not resolve.", reason="dns")
    checked: list[IPAddress] = []
    for raw in addresses:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
        problem = address_problem(address, allow_private=allow_private)
        if problem:
            raise BlockedURL(f"{host} resolves to {problem}.")
        checked.append(address)
    # Prefer IPv4: loopback receivers in tests and most servers listen there.
    checked.sort(key=lambda a: a.version)
    return Target(scheme, host, port, path, str(checked[0]))
