"""Secrets for http task headers, from Secrets Manager, cached per container for a few minutes (a flow calling
an API in a loop should not read the secret at every attempt; a rotated secret is picked up soon)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from flowcore.tasks.http import SecretError

DEFAULT_TTL_SECONDS = 300.0


class SecretsManagerSecrets:
    """`Secrets` on Secrets Manager. `client` builds the client on first use (most runs read no secret)."""

    def __init__(
        self,
        client: Callable[[], Any],
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, str]] = {}

    def value(self, secret_id: str, key: str | None = None) -> str:
        secret = self._secret_string(secret_id)
        if key is None:
            return secret
        try:
            document = json.loads(secret)
        except ValueError:
            document = None
        found = document.get(key) if isinstance(document, dict) else None
        if not isinstance(found, str | int | float) or isinstance(found, bool):
            raise SecretError(f"secret {secret_id} has no text or number under key '{key}'")
        return str(found)

    def _secret_string(self, secret_id: str) -> str:
        now = self._clock()
        cached = self._cache.get(secret_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            answer = self._client().get_secret_value(SecretId=secret_id)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "error")
            raise SecretError(f"secret {secret_id} could not be read ({code})") from None
        except BotoCoreError as error:
            raise SecretError(f"secret {secret_id} could not be read ({type(error).__name__})") from None
        secret = answer.get("SecretString")
        if not isinstance(secret, str):
            raise SecretError(f"secret {secret_id} has no secret string (binary secrets are not supported)")
        self._cache[secret_id] = (now + self._ttl, secret)
        return secret
