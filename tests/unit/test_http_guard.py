"""The http task's SSRF guard: URL tricks, private and special addresses, rebinding and redirects, each refused
before any connection with a message that says why (through `HttpTask` on a scripted transport); and the pure
parts (`parse_url`, `EgressPolicy.of`, `refusal`) directly."""

from __future__ import annotations

from typing import Any

import pytest

from flowcore.domain.addresses import refusal
from flowcore.domain.egress import EgressPolicy, parse_url
from flowcore.domain.statuses import TaskStatus
from tests.unit.http_doubles import PUBLIC, FakeTransport, context, http_task, response

#: Every host the cases name is allowed, so that what refuses them is the check under test.
ALLOW = (
    "api.example.com:443",
    "meta.example.com:443",
    "mixed.example.com:443",
    "ula.example.com:443",
    "internal.example.com:443",
    "redirect.example.com:443",
    "dev.example.com:80",
    "localhost:443",
    "127.0.0.1:443",
    "0.0.0.0:443",
    "169.254.169.254:443",
    "169.254.10.10:443",
    "100.64.0.1:443",
    "224.0.0.1:443",
    "240.0.0.1:443",
    "255.255.255.255:443",
    "10.1.2.3:443",
    "172.16.5.4:443",
    "192.168.1.1:443",
    "[::]:443",
    "[::1]:443",
    "[::ffff:7f00:1]:443",
    "[::7f00:1]:443",
    "[fd00:ec2::254]:443",
    "[fe80::1]:443",
    "[fd12:3456::1]:443",
    "[ff02::1]:443",
    "[2002:a00:1::1]:443",
    "[64:ff9b::a9fe:a9fe]:443",
)

DNS: dict[str, Any] = {
    "api.example.com": [PUBLIC],
    "meta.example.com": ["169.254.169.254"],
    "mixed.example.com": [PUBLIC, "10.0.0.7"],
    "ula.example.com": ["fd12:3456::1"],
    "internal.example.com": ["192.168.1.10"],
    "localhost": ["127.0.0.1"],
    "dev.example.com": [PUBLIC],
}

# (url, what the refusal says)
BYPASSES = {
    "decimal-ipv4": ("https://2130706433/", "IPv4 address in a non-standard form"),
    "octal-ipv4": ("https://0177.0.0.1/", "IPv4 address in a non-standard form"),
    "hex-ipv4": ("https://0x7f.1/", "IPv4 address in a non-standard form"),
    "mixed-ipv4": ("https://0x7f.0.0.01/", "IPv4 address in a non-standard form"),
    "short-ipv4": ("https://127.1/", "IPv4 address in a non-standard form"),
    "ipv4-mapped-ipv6": ("https://[::ffff:127.0.0.1]/", "an IPv4-mapped IPv6 address"),
    "ipv4-compatible-ipv6": ("https://[::127.0.0.1]/", "an IPv4-compatible IPv6 address"),
    "unspecified-ipv6": ("https://[::]/", "an unspecified address"),
    "unspecified-ipv4": ("https://0.0.0.0/", "an unspecified address"),
    "loopback-ipv6": ("https://[::1]/", "a loopback address"),
    "loopback-ipv4": ("https://127.0.0.1/", "a loopback address"),
    "localhost-without-local-flag": ("https://localhost/", "localhost resolves to 127.0.0.1, a loopback address"),
    "userinfo-allowed-at-evil": ("https://api.example.com@evil.com/", "must not contain user information"),
    "userinfo-with-password": ("https://api.example.com:443@evil.com/", "must not contain user information"),
    "fragment-at-allowed": ("https://evil.com#@api.example.com/", "evil.com:443 is not in this deployment's"),
    "backslash-at": ("https://api.example.com\\@evil.com/", "must not contain a backslash"),
    "backslash-path": ("https:\\\\evil.com\\", "must not contain a backslash"),
    "name-resolving-to-metadata": ("https://meta.example.com/", "169.254.169.254, the cloud metadata service"),
    "metadata-literal": ("https://169.254.169.254/latest/meta-data/", "the cloud metadata service"),
    "metadata-ipv6": ("https://[fd00:ec2::254]/", "the cloud metadata service"),
    "one-private-among-several": ("https://mixed.example.com/", "resolves to 10.0.0.7, a private address"),
    "private-10": ("https://10.1.2.3/", "a private address"),
    "private-172-16": ("https://172.16.5.4/", "a private address"),
    "private-192-168": ("https://192.168.1.1/", "a private address"),
    "ipv6-ula-by-name": ("https://ula.example.com/", "fd12:3456::1, a unique local (ULA) address"),
    "ipv6-ula-literal": ("https://[fd12:3456::1]/", "a unique local (ULA) address"),
    "ipv6-link-local": ("https://[fe80::1]/", "a link-local address"),
    "ipv4-link-local": ("https://169.254.10.10/", "a link-local address"),
    "cgnat": ("https://100.64.0.1/", "a shared (CGNAT) address"),
    "multicast-ipv4": ("https://224.0.0.1/", "a multicast address"),
    "multicast-ipv6": ("https://[ff02::1]/", "a multicast address"),
    "broadcast": ("https://255.255.255.255/", "the broadcast address"),
    "reserved": ("https://240.0.0.1/", "a reserved address"),
    "6to4-embedding-private": ("https://[2002:a00:1::1]/", "which embeds 10.0.0.1, a private address"),
    "nat64-embedding-metadata": ("https://[64:ff9b::a9fe:a9fe]/", "embeds 169.254.169.254, the cloud metadata"),
    "https-only-refuses-http": ("http://dev.example.com/", "plain http is not allowed in this deployment"),
    "port-not-in-allow-list": ("https://api.example.com:8443/", "api.example.com:8443 is not in this deployment's"),
    "suffix-trick": ("https://api.example.com.evil.com/", "api.example.com.evil.com:443 is not in this deployment's"),
    "prefix-trick": ("https://evilapi.example.com/", "evilapi.example.com:443 is not in this deployment's"),
    "idna-lookalike": ("https://\u0430pi.example.com/", "xn--pi-6kc.example.com:443 is not in this deployment's"),
    "ipv6-zone-id": ("https://[fe80::1%25eth0]/", "zone identifiers are not allowed"),
    "percent-encoded-host": ("https://%31%32%37.0.0.1/", "is not a valid host name"),
    "scheme-file": ("file:///etc/passwd", "scheme must be https or http, not 'file'"),
    "scheme-gopher": ("gopher://api.example.com/", "scheme must be https or http, not 'gopher'"),
    "port-not-a-number": ("https://api.example.com:0x1bb/", "port '0x1bb' is not a number"),
    "control-character": ("https://api.example.com\t.evil.com/", "spaces or control characters"),
}


@pytest.mark.parametrize(("url", "refused"), list(BYPASSES.values()), ids=list(BYPASSES))
def test_ssrf_attempt_is_refused_before_any_connection(url: str, refused: str) -> None:
    # Given a deployment that allows every host the cases name, and names that resolve as DNS says
    transport = FakeTransport(DNS)
    # When a task calls the URL
    result = http_task(transport, ALLOW).execute(context({"method": "GET", "url": url}))
    # Then it fails with the reason, and nothing was sent
    assert result.status is TaskStatus.FAILURE
    assert refused in (result.error or "")
    assert transport.sent == []


def test_a_redirect_to_a_private_address_is_refused() -> None:
    # Given an allowed host that redirects to an allowed name which resolves to a private address
    transport = FakeTransport(DNS, [response(302, "", {"location": "https://internal.example.com/admin"})])
    parameters = {"method": "GET", "url": "https://api.example.com/go", "follow_redirects": True}
    # When the task follows redirects
    result = http_task(transport, ALLOW).execute(context(parameters))
    # Then the hop is refused: one request was sent, none to the private address
    assert result.status is TaskStatus.FAILURE
    assert result.error == (
        "redirect from https://api.example.com/go refused: internal.example.com resolves to 192.168.1.10, "
        "a private address: http tasks may not connect there"
    )
    assert [request.destination.address for request in transport.sent] == [PUBLIC]


def test_a_redirect_to_the_metadata_service_by_literal_is_refused() -> None:
    transport = FakeTransport(DNS, [response(301, "", {"location": "http://169.254.169.254/latest/meta-data/"})])
    parameters = {"method": "GET", "url": "https://api.example.com/", "follow_redirects": True}
    result = http_task(transport, ALLOW).execute(context(parameters))
    assert "redirect from https://api.example.com/ refused: 169.254.169.254:80 is not in" in (result.error or "")
    assert len(transport.sent) == 1


def test_a_name_that_rebinds_after_the_check_is_connected_to_at_the_checked_address() -> None:
    # Given a name that resolves to a public address, then (for whoever asks next) to the metadata service
    transport = FakeTransport({"api.example.com": [[PUBLIC], ["169.254.169.254"]]})
    # When the task calls it
    result = http_task(transport).execute(context({"method": "GET", "url": "https://api.example.com/"}))
    # Then it was resolved once, and the request went to the address that was checked, with the name as Host
    assert result.status is TaskStatus.SUCCESS
    assert transport.lookups == ["api.example.com"]
    (sent,) = transport.sent
    assert sent.destination.address == PUBLIC
    assert sent.destination.target.host_header == "api.example.com"


def test_local_loopback_is_allowed_only_for_the_loopback_entries_the_local_stack_names() -> None:
    # Given the local stack's flag, a localhost entry and a name of its own that resolves to loopback
    dns = {"localhost": ["127.0.0.1"], "box.test": ["127.0.0.1"]}
    allow = ("localhost:8080", "box.test:8080")
    transport = FakeTransport(dns)
    task = http_task(transport, allow, local_loopback=True)
    # When each is called over plain http
    local = task.execute(context({"method": "GET", "url": "http://localhost:8080/"}))
    other = task.execute(context({"method": "GET", "url": "https://box.test:8080/"}))
    # Then only the loopback entry reaches loopback
    assert local.status is TaskStatus.SUCCESS
    assert other.error == "box.test resolves to 127.0.0.1, a loopback address: http tasks may not connect there"


def test_an_empty_allow_list_turns_http_tasks_off() -> None:
    transport = FakeTransport(DNS)
    result = http_task(transport, ()).execute(context({"method": "GET", "url": "https://api.example.com/"}))
    assert result.error == "http tasks are off in this deployment: its allow-list (HTTP_TASK_ALLOW) is empty"
    assert transport.sent == []


# The pure parts


@pytest.mark.parametrize(
    ("url", "host", "port", "path"),
    [
        ("https://API.Example.COM./v1", "api.example.com", 443, "/v1"),
        ("HTTPS://api.example.com:443", "api.example.com", 443, "/"),
        ("http://api.example.com", "api.example.com", 80, "/"),
        ("https://bücher.example/x?q=1#frag", "xn--bcher-kva.example", 443, "/x?q=1"),
        ("https://[2606:2800:220:1::1]:8443/a|b", "2606:2800:220:1::1", 8443, "/a%7Cb"),
    ],
    ids=["uppercase-trailing-dot", "explicit-default-port", "http-default-port", "idna-and-fragment", "ipv6-port"],
)
def test_parse_url_normalizes(url: str, host: str, port: int, path: str) -> None:
    target = parse_url(url)
    assert (target.host, target.port, target.path) == (host, port, path)


def test_allow_list_entries_are_normalized_as_urls_are() -> None:
    policy = EgressPolicy.of([" API.Example.com.:443", "[::1]:8080", "bare.example.com"])
    assert policy.allow == frozenset({"api.example.com:443", "[::1]:8080", "bare.example.com:443"})
    with pytest.raises(ValueError, match="not a number"):
        EgressPolicy.of(["api.example.com:https"])


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("192.0.2.1", "not a public address"),
        ("198.18.0.1", "not a public address"),
        ("2002:808:808::1", None),
        ("127.0.0.1", "a loopback address"),
    ],
    ids=["public-v4", "public-v6", "documentation", "benchmarking", "6to4-public", "loopback"],
)
def test_refusal_classifies_addresses(address: str, reason: str | None) -> None:
    assert refusal(address) == reason


def test_loopback_is_allowed_only_when_asked_and_never_through_a_mapped_address() -> None:
    assert refusal("127.0.0.1", loopback_ok=True) is None
    assert refusal("::1", loopback_ok=True) is None
    assert refusal("::ffff:127.0.0.1", loopback_ok=True) == "an IPv4-mapped IPv6 address"


def test_the_policy_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowcore.settings import SettingsError, http_task_policy

    monkeypatch.setenv("HTTP_TASK_ALLOW", "api.example.com:443, localhost:8080,")
    monkeypatch.setenv("HTTP_TASK_ALLOW_HTTP", "true")
    monkeypatch.delenv("HTTP_TASK_LOCAL_LOOPBACK", raising=False)
    policy = http_task_policy()
    assert policy == EgressPolicy(frozenset({"api.example.com:443", "localhost:8080"}), allow_http=True)
    monkeypatch.setenv("HTTP_TASK_LOCAL_LOOPBACK", "yes")
    with pytest.raises(SettingsError, match="HTTP_TASK_LOCAL_LOOPBACK must be true or false"):
        http_task_policy()
    monkeypatch.setenv("HTTP_TASK_LOCAL_LOOPBACK", "false")
    monkeypatch.setenv("HTTP_TASK_ALLOW", "user@host:443")
    with pytest.raises(SettingsError, match="HTTP_TASK_ALLOW has an entry that is not host:port"):
        http_task_policy()
    monkeypatch.delenv("HTTP_TASK_ALLOW")
    assert http_task_policy().off
