"""The key callback tokens are signed with: a Secrets Manager secret, read through the same cached reader as the
http task's secret headers.

The deployment's template generates the secret; the local stack creates one in moto from a key it keeps in
its data folder (so tokens it handed out stay valid across restarts). The secret's string is hashed into a
256-bit key, so any generated string of enough entropy serves.
"""

from __future__ import annotations

import hashlib

from flowcore.adapters.secrets import SecretsManagerSecrets
from flowcore.domain.errors import CallbacksUnavailable
from flowcore.tasks.http import SecretError


class SecretsManagerKeys:
    def __init__(self, secrets: SecretsManagerSecrets, secret_id: str) -> None:
        self._secrets = secrets
        self._secret_id = secret_id

    def key(self) -> bytes:
        try:
            secret = self._secrets.value(self._secret_id)
        except SecretError as error:
            raise CallbacksUnavailable(f"the callback signing key could not be read: {error}") from error
        return hashlib.sha256(secret.encode()).digest()
