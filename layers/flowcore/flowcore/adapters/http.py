"""The http task's transport on urllib3 (botocore's own HTTP client, so no new dependency).

It connects to the address the SSRF guard checked, never to the host name again: the name goes only into the
`Host` header, TLS's SNI and the certificate check. No redirects, no retries (the task's retry policy
applies), no proxy from the environment, no content decoding (a compressed body cannot grow past the cap).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence

import urllib3
from botocore.httpsession import get_cert_path
from urllib3.exceptions import HTTPError, NewConnectionError, TimeoutError

from flowcore.tasks.http import HttpRequest, HttpResponse, TransportError

_CHUNK = 65_536


def system_resolve(host: str, port: int) -> list[str]:
    """The host's addresses, as the system resolver gives them (one lookup)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise TransportError(f"{host} could not be resolved ({error.strerror or error})") from None
    return [str(info[4][0]) for info in found]


class Urllib3Transport:
    """`HttpTransport` on urllib3. `resolve` is the lookup the guard's check and the connection share."""

    def __init__(self, resolver: Callable[[str, int], Sequence[str]] = system_resolve) -> None:
        self._resolver = resolver
        self._ca_certs = get_cert_path(True)

    def resolve(self, host: str, port: int) -> Sequence[str]:
        return self._resolver(host, port)

    def send(self, request: HttpRequest, timeout: float, max_body: int) -> HttpResponse:
        target = request.destination.target
        deadline = time.monotonic() + timeout
        pool = self._pool(request, timeout)
        try:
            response = pool.urlopen(
                request.method,
                target.path,
                body=request.body,
                headers={"Host": target.host_header, **request.headers},
                retries=False,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                decode_content=False,
            )
            try:
                body = _capped(response, max_body + 1, deadline)
            finally:
                response.release_conn()
        except NewConnectionError as error:  # a TimeoutError subclass in urllib3 2, though most are refusals
            raise TransportError(f"no response from {target.shown} ({_cause(error)})") from None
        except TimeoutError:
            raise TransportError(f"timed out after {timeout:.3g} s calling {target.shown}") from None
        except (HTTPError, OSError) as error:
            # The class only: urllib3's messages name the pool (the address), never the headers, but say little.
            raise TransportError(f"no response from {target.shown} ({_cause(error)})") from None
        finally:
            pool.close()
        headers = {name.lower(): response.headers[name] for name in response.headers}
        return HttpResponse(response.status, headers, body)

    def _pool(self, request: HttpRequest, timeout: float) -> urllib3.HTTPConnectionPool:
        target, address = request.destination.target, request.destination.address
        limits = urllib3.Timeout(connect=timeout, read=timeout)
        if target.scheme == "http":
            return urllib3.HTTPConnectionPool(address, target.port, timeout=limits, maxsize=1, retries=False)
        return urllib3.HTTPSConnectionPool(
            address,
            target.port,
            timeout=limits,
            maxsize=1,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=self._ca_certs,
            server_hostname=target.host,
            assert_hostname=target.host,
        )


def _capped(response: urllib3.BaseHTTPResponse, limit: int, deadline: float) -> bytes:
    """At most `limit` bytes of the body, read before `deadline` (a read timeout alone would let a server that
    sends a byte at a time hold the task forever)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        if time.monotonic() > deadline:
            raise TimeoutError("the body took longer than the timeout")
        chunk = response.read(min(_CHUNK, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _cause(error: BaseException) -> str:
    """The innermost cause's class: `ConnectionRefusedError`, `SSLCertVerificationError`, ..."""
    inner = error
    for _ in range(10):  # urllib3 wraps a few levels deep, by `reason` or by chaining
        nested = getattr(inner, "reason", None) or inner.__cause__ or inner.__context__
        if not isinstance(nested, BaseException):
            break
        inner = nested
    return type(inner).__name__
