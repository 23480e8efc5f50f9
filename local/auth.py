"""Who is calling the local stack: one development tenant without a token, or API Gateway's JWT authorizer emulated.

The deployed API (template.yaml) puts a JWT authorizer (or IAM) on every route but `GET /` and `GET /health`; the
function reads the caller from `requestContext.authorizer`. The local stack hands it the same thing:

- `--auth none` (the default): every request is the development tenant `dev`, holding every scope, as if it came
  with a token; no token is asked for. Only allowed on a loopback address (`check_binding`).
- `--auth jwt`: `LocalAuthority` signs tokens with a key kept in the data folder (`python -m local token`) and
  checks each request's `Authorization` header as API Gateway's JWT authorizer checks it: signature, issuer,
  audience, expiry, not-before and issued-at. A refused request gets API Gateway's 401 and never reaches the
  function; an accepted one reaches it with the claims rendered as API Gateway renders them (every value a
  string). Scopes are not checked here: the function checks them per route, as it does behind API Gateway.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from local.apigw import HttpResponse

log = logging.getLogger("local.auth")

#: `--auth` (env LOCAL_AUTH): no token, one development tenant; or tokens checked as API Gateway checks them.
AUTH_NONE = "none"
AUTH_JWT = "jwt"
AUTH_MODES = (AUTH_NONE, AUTH_JWT)
#: The tenant `--auth none` serves (the `sub` of its authorizer).
DEV_TENANT = "dev"
#: Every scope the API knows; the development tenant holds them all.
ALL_SCOPES = ("flows:read", "flows:write", "executions:read", "executions:write")
#: The issuer and audience the local authority signs for and expects (`--jwt-issuer`, `--jwt-audience`).
DEFAULT_ISSUER = "flow-manager-local"
DEFAULT_AUDIENCE = "flow-manager"
#: The signing key's file in the data folder: an RSA private key (PKCS#8 PEM), readable by its owner only.
KEY_FILE = "local-jwt.pem"
KEY_BITS = 2048
ALGORITHM = "RS256"
#: A token's lifetime unless told otherwise: an hour, as a Cognito access token's.
DEFAULT_LIFETIME = 3600
#: Seconds of clock skew allowed on exp, nbf and iat: none. The tokens come from this machine's clock, and a test of
#: a token a second past its exp must see it refused.
LEEWAY = 0
#: `GET` on these paths (and under these prefixes) takes no authorizer, as the deployed API's public routes.
PUBLIC_PATHS = frozenset({"/", "/health", "/ui"})
PUBLIC_PREFIXES = ("/ui/",)


def dev_authorizer() -> dict[str, Any]:
    """`requestContext.authorizer` of a request under `--auth none`: the development tenant, every scope."""
    claims = {"sub": DEV_TENANT, "iss": DEFAULT_ISSUER, "aud": DEFAULT_AUDIENCE, "scope": " ".join(ALL_SCOPES)}
    return {"jwt": {"claims": claims, "scopes": None}}


# -- binding ----------------------------------------------------------------------------------------------------


class UnsafeBinding(RuntimeError):
    """The stack was asked to listen beyond this machine without authentication."""


def is_loopback(host: str) -> bool:
    """Whether `host` only reaches this machine: `localhost` or a loopback address (127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:  # another name: it could resolve anywhere
        return False


def check_binding(host: str, auth: str) -> None:
    """Refuse to serve every caller as the development tenant on an address other machines reach."""
    if auth == AUTH_NONE and not is_loopback(host):
        raise UnsafeBinding(
            f"refusing to listen on {host} without authentication: with --auth none every caller is the "
            f"development tenant. Listen on 127.0.0.1 (the default), or add --auth jwt (env LOCAL_AUTH=jwt)"
        )


# -- rejections -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rejection:
    """A request the authorizer refuses, answered as API Gateway answers it: 401 `{"message":"Unauthorized"}`, the
    reason in `www-authenticate`."""

    reason: str
    status: int = 401

    @property
    def challenge(self) -> str:
        description = self.reason.replace('"', "'").replace("\\", "/")
        return f'Bearer scope="" error="invalid_token" error_description="{description}"'

    def response(self) -> HttpResponse:
        headers = {"content-type": "application/json", "www-authenticate": self.challenge}
        return HttpResponse(
            self.status, headers, [], json.dumps({"message": "Unauthorized"}, separators=(",", ":")).encode()
        )


# -- claims as API Gateway renders them -------------------------------------------------------------------------


def render_claim(value: Any) -> str:
    """A claim's value as API Gateway hands it to the function: always a string. Numbers as written (`exp`
    `"1767225600"`), lists as `[a b]`, objects as `map[k:v]`, as Go's `%v` prints them."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, list):
        return "[" + " ".join(render_claim(item) for item in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{render_claim(value[key])}" for key in sorted(value)) + "]"
    if value is None:
        return "<nil>"
    return str(value)


def jwt_authorizer(claims: Mapping[str, Any]) -> dict[str, Any]:
    """`requestContext.authorizer` for a token's claims, shaped as API Gateway's (payload format 2.0)."""
    return {"jwt": {"claims": {name: render_claim(value) for name, value in claims.items()}, "scopes": None}}


# -- the key ----------------------------------------------------------------------------------------------------


def _write_new_key(path: Path) -> None:
    """Write a new key to `path` unless one is there already; never a half-written file, never readable by others."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process wrote one first: theirs is the key
            os.link(temporary, path)  # atomic, and never replaces a key
    finally:
        temporary.unlink(missing_ok=True)


def load_signing_key(folder: Path) -> rsa.RSAPrivateKey:
    """The stack's signing key, `<folder>/local-jwt.pem`: made (0600) the first time, the same one afterwards, so a
    token still works after a restart and `python -m local token` signs with the server's key."""
    path = folder / KEY_FILE
    if not path.exists():
        _write_new_key(path)
        log.info("auth: made a signing key in %s", path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("auth: %s is readable by others (mode %o); chmod 600 it", path, mode)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA private key; remove it and a new one is made")
    return key


def key_id(key: rsa.RSAPublicKey) -> str:
    """The key's RFC 7638 thumbprint: the `kid` its tokens carry and a JWKS would list it under."""
    numbers = key.public_numbers()

    def b64(number: int) -> str:
        raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    canonical = json.dumps({"e": b64(numbers.e), "kty": "RSA", "n": b64(numbers.n)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


# -- the authority ----------------------------------------------------------------------------------------------


def _bearer_token(headers: Mapping[str, str]) -> str | Rejection:
    """The token of the `Authorization` header. API Gateway takes the token alone or after `Bearer `."""
    value = next((value for name, value in headers.items() if name.lower() == "authorization"), "").strip()
    if not value:
        return Rejection("the request has no Authorization header")
    scheme, _, rest = value.partition(" ")
    if not rest.strip():
        if scheme.lower() == "bearer":
            return Rejection("the Authorization header has no token after Bearer")
        return value  # the token without its scheme
    if scheme.lower() != "bearer":
        return Rejection(f"the Authorization header is not a Bearer token ({scheme[:20]})")
    return rest.strip()


class LocalAuthority:
    """Signs tokens with the stack's key and checks them as API Gateway's JWT authorizer does.

    `folder`: where the key is kept (the data folder); None keeps a key in memory for this process only (the tests).
    """

    def __init__(
        self,
        folder: Path | None = None,
        issuer: str = DEFAULT_ISSUER,
        audience: str | Iterable[str] = DEFAULT_AUDIENCE,
    ) -> None:
        self._key = (
            load_signing_key(folder)
            if folder is not None
            else rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        )
        self._public_key = self._key.public_key()
        self.kid = key_id(self._public_key)
        self.key_path = folder / KEY_FILE if folder is not None else None
        self.issuer = issuer
        self.audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        if not self.audiences:
            raise ValueError("a JWT authorizer needs at least one audience")

    def issue(
        self,
        subject: str,
        scopes: str | Iterable[str] = ALL_SCOPES,
        audience: str | list[str] | None = None,
        issuer: str | None = None,
        lifetime: float = DEFAULT_LIFETIME,
        now: float | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A token for `subject` holding `scopes`, signed with the stack's key. `audience` and `issuer` default to the
        ones this authority expects; `now` moves the token in time; `claims` adds or (None) removes claims."""
        issued = int(now if now is not None else time.time())
        payload: dict[str, Any] = {
            "iss": issuer if issuer is not None else self.issuer,
            "sub": subject,
            "aud": audience if audience is not None else self.audiences[0],
            "scope": scopes if isinstance(scopes, str) else " ".join(scopes),
            "iat": issued,
            "nbf": issued,
            "exp": issued + int(lifetime),
            "jti": str(uuid.uuid4()),
        }
        for name, value in (claims or {}).items():
            if value is None:
                payload.pop(name, None)
            else:
                payload[name] = value
        return jwt.encode(payload, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def authorize(self, headers: Mapping[str, str]) -> dict[str, Any] | Rejection:
        """The request's `requestContext.authorizer`, or why API Gateway would refuse it."""
        token = _bearer_token(headers)
        if isinstance(token, Rejection):
            return token
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            return Rejection(f"the token is malformed: {error}")
        if header.get("alg") != ALGORITHM:
            return Rejection(f"signing method {header.get('alg')} is invalid: the local key signs {ALGORITHM}")
        if header.get("kid") != self.kid:
            return Rejection("the token's kid names no key of the local issuer")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public_key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except jwt.InvalidTokenError as error:
            return Rejection(_reason(error, self.issuer))
        if not self._audience_matches(claims):
            return Rejection(f"the token's audience is not {' or '.join(self.audiences)}")
        return jwt_authorizer(claims)

    def _audience_matches(self, claims: Mapping[str, Any]) -> bool:
        """`aud` (a string or a list) names a configured audience; without `aud`, `client_id` does (an access token
        of Cognito's), as API Gateway checks it."""
        if "aud" in claims:
            audience = claims["aud"]
            named = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
        else:
            named = [claims.get("client_id")]
        return any(name in self.audiences for name in named if isinstance(name, str))


def _reason(error: jwt.InvalidTokenError, issuer: str) -> str:
    """Why PyJWT refused the token, in a sentence for `www-authenticate`."""
    if isinstance(error, jwt.ExpiredSignatureError):
        return "the token has expired"
    if isinstance(error, jwt.ImmatureSignatureError):
        return f"the token is not valid yet: {error}"
    if isinstance(error, jwt.InvalidIssuerError):
        return f"the token's issuer is not {issuer}"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"the token has no {error.claim} claim"
    if isinstance(error, jwt.InvalidSignatureError):
        return "the token's signature does not verify with the local key"
    return f"the token is invalid: {error}"


# -- what the API server asks ----------------------------------------------------------------------------------

#: Given a request's method, path and (lower-cased) headers: its `requestContext.authorizer`, None for a public
#: route (no authorizer), or a rejection (the function is not invoked).
Gate = Callable[[str, str, Mapping[str, str]], dict[str, Any] | Rejection | None]


def is_public(method: str, path: str) -> bool:
    """A route the deployed API serves without an authorizer: `GET /`, `GET /health`, the dashboard under `GET /ui`.
    A path with `.` or `..` segments is never public (it could name a route outside `/ui/` once resolved)."""
    if method.upper() != "GET":
        return False
    if any(segment in {".", ".."} for segment in unquote(path).split("/")):
        return False
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def development_gate(method: str, path: str, headers: Mapping[str, str]) -> dict[str, Any]:
    """`--auth none`: every request is the development tenant, with every scope."""
    return dev_authorizer()


def jwt_gate(authority: LocalAuthority) -> Gate:
    """`--auth jwt`: the public routes pass without an authorizer, every other request needs a valid token."""

    def gate(method: str, path: str, headers: Mapping[str, str]) -> dict[str, Any] | Rejection | None:
        if is_public(method, path):
            return None
        return authority.authorize(headers)

    return gate
