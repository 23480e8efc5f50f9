"""Where an http task may connect (SSRF guard): its URL parsed strictly, its `host:port` matched against the
deployment's allow-list, and every address the host resolves to checked (`domain.addresses`).

Pure: the resolver is passed in. `destination` resolves once and returns the address it checked, which is the
one the transport connects to, so a name that resolves elsewhere a moment later (DNS rebinding) changes nothing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from flowcore.domain.addresses import refusal

#: What resolves a host name to its addresses (the transport's `getaddrinfo`; a fake in tests).
type Resolver = Callable[[str, int], Sequence[str]]

DEFAULT_PORTS = {"https": 443, "http": 80}
#: Hosts the local stack may allow on loopback (`EgressPolicy.local_loopback`), and over plain http.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_URL_LENGTH = 2_048
OFF = "http tasks are off in this deployment: its allow-list (HTTP_TASK_ALLOW) is empty"

_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMBER = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_DOTTED_QUAD = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~?"


class EgressRefused(ValueError):
    """The URL or one of its addresses is not one an http task may reach; the message says why."""


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """The deployment's rules: allowed `host:port` entries (lowercase; empty: http tasks are off), whether plain
    http is allowed to them, and whether loopback entries may reach loopback (the local stack only)."""

    allow: frozenset[str] = frozenset()
    allow_http: bool = False
    local_loopback: bool = False

    @classmethod
    def of(cls, entries: Iterable[str], allow_http: bool = False, local_loopback: bool = False) -> EgressPolicy:
        """From entries written `host:port` (`host` alone means port 443); `ValueError` for one that is not."""
        allow = set()
        for entry in entries:
            host, port = _authority(entry.strip(), "https")
            allow.add(_entry(host, port))
        return cls(frozenset(allow), allow_http, local_loopback)

    @property
    def off(self) -> bool:
        return not self.allow


@dataclass(frozen=True, slots=True)
class Target:
    """A URL as parsed: host lowercase ASCII without a trailing dot (IPv6 without brackets), port always set."""

    scheme: str
    host: str
    port: int
    path: str  # the request target: path and query, never empty

    @property
    def authority(self) -> str:
        return _entry(self.host, self.port)

    @property
    def host_header(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return shown if DEFAULT_PORTS[self.scheme] == self.port else f"{shown}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.path}"

    @property
    def shown(self) -> str:
        """The URL without its query, for messages (a query may carry what the flow would rather not log)."""
        return f"{self.scheme}://{self.host_header}{self.path.split('?', 1)[0]}"


@dataclass(frozen=True, slots=True)
class Destination:
    """A target allowed by the policy and the one address of it that was checked: the transport connects there."""

    target: Target
    address: str


def parse_url(url: str) -> Target:
    """`url` as a `Target`; `EgressRefused` for anything ambiguous (user information, backslashes, IPv4 written
    other than as four decimal parts, control characters, schemes other than http and https)."""
    if len(url) > MAX_URL_LENGTH:
        raise EgressRefused(f"URL is longer than {MAX_URL_LENGTH} characters")
    if "\\" in url:
        raise EgressRefused("URL must not contain a backslash")
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise EgressRefused("URL must not contain spaces or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise EgressRefused(f"URL scheme must be https or http, not '{parts.scheme}'")
    if "@" in parts.netloc:
        raise EgressRefused("URL must not contain user information ('user@' before the host)")
    host, port = _authority(parts.netloc, scheme)
    query = f"?{quote(parts.query, safe=_PATH_SAFE)}" if parts.query else ""
    return Target(scheme, host, port, quote(parts.path or "/", safe=_PATH_SAFE) + query)


def allowed(target: Target, policy: EgressPolicy) -> None:
    """`EgressRefused` unless the policy allows the target's scheme and `host:port`."""
    if policy.off:
        raise EgressRefused(OFF)
    if target.authority not in policy.allow:
        raise EgressRefused(f"{target.authority} is not in this deployment's allow-list for http tasks")
    local = policy.local_loopback and target.host in LOOPBACK_HOSTS
    if target.scheme == "http" and not (policy.allow_http or local):
        raise EgressRefused(f"plain http is not allowed in this deployment (https only): {target.shown}")


def destination(target: Target, policy: EgressPolicy, resolve: Resolver) -> Destination:
    """The target checked against the policy, its host resolved once, every address checked; the address to
    connect to (the first IPv4 one, else the first)."""
    allowed(target, policy)
    try:
        literal = ipaddress.ip_address(target.host)
    except ValueError:
        addresses = _unique(resolve(target.host, target.port))
        if not addresses:
            raise EgressRefused(f"{target.host} did not resolve to any address") from None
    else:
        addresses = [str(literal)]
    loopback_ok = policy.local_loopback and target.host in LOOPBACK_HOSTS
    for address in addresses:
        reason = refusal(address, loopback_ok)
        if reason is not None:
            named = address if address == target.host else f"{target.host} resolves to {address}"
            raise EgressRefused(f"{named}, {reason}: http tasks may not connect there")
    ipv4 = [address for address in addresses if ":" not in address]
    return Destination(target, (ipv4 or addresses)[0])


def _authority(netloc: str, scheme: str) -> tuple[str, int]:
    """The host (normalized) and port of `host[:port]` or `[v6][:port]`."""
    if netloc.startswith("["):
        inside, bracket, rest = netloc[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise EgressRefused(f"host '{netloc}' is not a valid IPv6 literal")
        return _ipv6(inside), _port(rest[1:], scheme) if rest else DEFAULT_PORTS[scheme]
    host, colon, port = netloc.rpartition(":") if ":" in netloc else (netloc, "", "")
    return _hostname(host), _port(port, scheme) if colon else DEFAULT_PORTS[scheme]


def _port(text: str, scheme: str) -> int:
    if text == "":
        return DEFAULT_PORTS[scheme]
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 65_536:
        raise EgressRefused(f"port '{text}' is not a number from 1 to 65535")
    return int(text)


def _ipv6(text: str) -> str:
    if "%" in text:
        raise EgressRefused("IPv6 zone identifiers are not allowed in URLs")
    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        raise EgressRefused(f"host '[{text}]' is not a valid IPv6 literal") from None


def _hostname(text: str) -> str:
    """A host name in lowercase ASCII (IDNA), without its trailing dot; IPv4 only as a plain dotted quad."""
    host = text.lower().removesuffix(".")
    if not host or "%" in host:
        raise EgressRefused(f"host '{text}' is not a valid host name")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise EgressRefused(f"host '{text}' is not a valid international domain name") from None
    labels = host.split(".")
    # As browsers (WHATWG URL) read it: a host whose last label is a number is an IPv4 address, whatever its
    # form (`2130706433`, `0177.0.0.1`, `0x7f.1`); only the plain dotted quad is unambiguous.
    if _NUMBER.match(labels[-1]):
        if not _DOTTED_QUAD.match(host):
            raise EgressRefused(f"host '{text}' is an IPv4 address in a non-standard form (write it a.b.c.d)")
        return host
    if not all(_LABEL.match(label) for label in labels):
        raise EgressRefused(f"host '{text}' is not a valid host name")
    return host


def _entry(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _unique(addresses: Sequence[str]) -> list[str]:
    """Resolved addresses in order, without repeats and without an IPv6 zone (`fe80::1%eth0`)."""
    return list(dict.fromkeys(address.split("%", 1)[0] for address in addresses))
