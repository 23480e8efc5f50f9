"""Which IP addresses an http task may not connect to, and why: anything but a public unicast address.

The named ranges come first so that a refusal says what the address is (the metadata service before
link-local); whatever else is not globally routable (`is_global` false: documentation, benchmarking, ...) is
refused last. Addresses that embed an IPv4 one (6to4, Teredo, NAT64) are refused when the embedded one is.
"""

from __future__ import annotations

import ipaddress

type Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAMED: tuple[tuple[str, str], ...] = (
    ("169.254.169.254/32", "the cloud metadata service"),
    ("fd00:ec2::254/128", "the cloud metadata service"),
    ("0.0.0.0/8", "an unspecified address"),
    ("::/128", "an unspecified address"),
    ("127.0.0.0/8", "a loopback address"),
    ("::1/128", "a loopback address"),
    ("10.0.0.0/8", "a private address"),
    ("172.16.0.0/12", "a private address"),
    ("192.168.0.0/16", "a private address"),
    ("100.64.0.0/10", "a shared (CGNAT) address"),
    ("169.254.0.0/16", "a link-local address"),
    ("fe80::/10", "a link-local address"),
    ("fc00::/7", "a unique local (ULA) address"),
    ("224.0.0.0/4", "a multicast address"),
    ("ff00::/8", "a multicast address"),
    ("255.255.255.255/32", "the broadcast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("::ffff:0:0/96", "an IPv4-mapped IPv6 address"),
    ("::/96", "an IPv4-compatible IPv6 address"),
)
_NETWORKS = tuple((ipaddress.ip_network(network), reason) for network, reason in _NAMED)
_LOOPBACK = "a loopback address"
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def refusal(text: str, loopback_ok: bool = False) -> str | None:
    """Why `text` (an IP address) may not be connected to, or None when it may. `loopback_ok`: the local stack
    allows loopback for the loopback hosts it lists."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return "not an IP address"
    return _reason(address, loopback_ok)


def _reason(address: Address, loopback_ok: bool) -> str | None:
    for network, reason in _NETWORKS:
        if address.version == network.version and address in network:
            return None if reason == _LOOPBACK and loopback_ok else reason
    embedded = _embedded(address)
    if embedded is not None:
        inner = _reason(embedded, loopback_ok=False)
        return f"which embeds {embedded}, {inner}" if inner else None
    if not address.is_global:
        return "not a public address"
    return None


def _embedded(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a 6to4, Teredo (its client) or NAT64 address carries, if it is one."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None
