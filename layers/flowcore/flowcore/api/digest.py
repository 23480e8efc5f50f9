"""Content hashes of JSON documents: the same document, whatever its key order, has the same hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical(document: Any) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)


def digest(document: Any) -> str:
    return hashlib.sha256(canonical(document).encode()).hexdigest()
