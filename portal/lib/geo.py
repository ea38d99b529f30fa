"""IP address to country, offline.

The table ships inside the `iptocc` package (built from the regional internet registries'
delegation files), so a lookup needs no network and costs about 0.1 µs. Registry data
names the country an address block is assigned to, which is what an allowlist needs.
"""

from __future__ import annotations

import ipaddress

from iptocc import country_code

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def country_of(ip: Address | str | None) -> str:
    """The ISO 3166-1 alpha-2 code for `ip`, or "" for private, reserved or unknown addresses."""
    if ip is None:
        return ""
    try:
        return country_code(str(ip)) or ""
    except ValueError:
        return ""
