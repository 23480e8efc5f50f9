"""The key callback tokens are signed with, read from Secrets Manager and kept for a while.

The deployment's template generates the secret; the local stack creates one in moto from a key it keeps in
its data folder (so tokens it handed out stay valid across restarts). The secret's string is hashed into a
256-bit key, so any generated string of enough entropy serves.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from flowcore.domain.errors import CallbacksUnavailable

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

#: A rotated secret is picked up within this long.
KEY_TTL_SECONDS = 300


class SecretsManagerKeys:
    def __init__(
        self,
        client: Callable[[], SecretsManagerClient],
        secret_id: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._secret_id = secret_id
        self._clock = clock
        self._cached: tuple[bytes, float] | None = None

    def key(self) -> bytes:
        if self._cached is not None and self._clock() - self._cached[1] < KEY_TTL_SECONDS:
            return self._cached[0]
        try:
            secret = self._client().get_secret_value(SecretId=self._secret_id).get("SecretString")
        except (ClientError, BotoCoreError) as error:
            raise CallbacksUnavailable(f"the callback signing key could not be read: {error}") from error
        if not secret:
            raise CallbacksUnavailable("the callback signing key's secret holds no string")
        key = hashlib.sha256(secret.encode()).digest()
        self._cached = (key, self._clock())
        return key
