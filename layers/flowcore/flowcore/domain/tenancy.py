"""Tenants: whose a flow, an execution and everything under them are.

Inside the service a flow's or an execution's id is *scoped*: `<tenant, percent-encoded>/<id>`. The scoped id
is what records, run references, timers and callback tokens carry, and the store builds every key from it
(`flowcore.adapters.dynamodb.keys`), so the tenant is part of every key and one tenant's request can only ever
name its own items: the API scopes the ids a caller sends with the caller's tenant before it looks anything up.
Callers see the id alone (`shown`).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote, unquote

#: A tenant is an identity claim (`sub`) or an IAM principal: bounded so that keys stay far below DynamoDB's.
MAX_TENANT_CHARS: Final = 256
#: The local stack's one tenant when it runs without authentication.
DEV_TENANT: Final = "dev"

_SEPARATOR: Final = "/"


def valid_tenant(tenant: str) -> bool:
    return 0 < len(tenant) <= MAX_TENANT_CHARS and tenant.isprintable()


def encoded(tenant: str) -> str:
    """The tenant as keys hold it: no `/` or `#` (percent-encoded), so it can lead a key."""
    return quote(tenant, safe="")


def scoped(tenant: str, local_id: str) -> str:
    """`local_id` (a flow or execution id as callers name it) inside `tenant`."""
    return f"{encoded(tenant)}{_SEPARATOR}{local_id}"


def split(scoped_id: str) -> tuple[str, str]:
    """A scoped id's encoded tenant and its id; `ValueError` for an id that is not scoped."""
    tenant, separator, local_id = scoped_id.partition(_SEPARATOR)
    if not separator or not tenant or not local_id:
        raise ValueError(f"not a scoped id: {scoped_id!r}")
    return tenant, local_id


def shown(scoped_id: str) -> str:
    """The id a caller knows: the scoped id without its tenant (an id that has none is shown as it is)."""
    return scoped_id.partition(_SEPARATOR)[2] or scoped_id


def tenant_of(scoped_id: str) -> str:
    """The tenant a scoped id belongs to."""
    return unquote(split(scoped_id)[0])


def belongs_to(scoped_id: str, tenant: str) -> bool:
    """Whether the scoped id is `tenant`'s (False for an id that names no tenant)."""
    encoded_tenant, separator, _ = scoped_id.partition(_SEPARATOR)
    return bool(separator) and encoded_tenant == encoded(tenant)


def same_tenant(scoped_id: str, local_id: str) -> str:
    """`local_id` in the tenant of `scoped_id` (a child execution, the flow a subflow task names)."""
    return f"{split(scoped_id)[0]}{_SEPARATOR}{local_id}"
