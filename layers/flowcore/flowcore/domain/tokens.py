"""Callback tokens: one attempt of one run, signed so that only the deployment can issue them.

Token: `<payload>.<signature>`, both unpadded base64url; the payload is the compact JSON array
`[execution_id, seq, task_name, attempt, nonce]`, the signature HMAC-SHA256 under the deployment's key. The
nonce is random per parked attempt, so a token is never derivable from ids; once the run moves on (another
attempt, another nonce, or an end) the token completes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from flowcore.domain.records import RunRef

#: A token longer than this is not one of ours (a route reads no further).
MAX_TOKEN_LENGTH = 1_024


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a valid token names: one attempt of one run, and the nonce it was parked with."""

    ref: RunRef
    attempt: int
    nonce: str


def callback_url(token: str) -> str:
    """Where the token's holder completes the run, relative to the API's base URL."""
    return f"/callbacks/{token}"


def issue_token(key: bytes, ref: RunRef, attempt: int, nonce: str) -> str:
    payload = _b64(json.dumps([ref.execution_id, ref.seq, ref.task_name, attempt, nonce], separators=(",", ":")))
    return f"{payload}.{_b64(_signature(key, payload))}"


def read_token(key: bytes, token: str) -> TokenClaims | None:
    """The claims of a token this key signed; None for anything else (never says which part was wrong)."""
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        return None
    payload, signature = token.split(".")
    try:
        given = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        if not hmac.compare_digest(given, _signature(key, payload)):
            return None
        execution_id, seq, task_name, attempt, nonce = json.loads(
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        )
        return TokenClaims(RunRef(str(execution_id), int(seq), str(task_name)), int(attempt), str(nonce))
    except (ValueError, TypeError, binascii.Error):
        return None


def _signature(key: bytes, payload: str) -> bytes:
    return hmac.new(key, b"flow-manager callback v1|" + payload.encode(), hashlib.sha256).digest()


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
