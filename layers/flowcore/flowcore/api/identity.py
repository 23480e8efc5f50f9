"""Who is calling: the tenant and the scopes of the identity API Gateway's authorizer vouched for.

API Gateway checks the credentials before the function runs (a JWT's signature, issuer, audience and expiry;
or a SigV4 signature in IAM mode) and hands over what it found in `requestContext.authorizer`: `jwt.claims`
(every value a string) or `iam` (the caller's principal). Here that becomes a `Caller`: its tenant (the claim
`TENANT_CLAIM` names, `sub` by default; in IAM mode the principal, an assumed role's session counted as its
role) and its scopes (the `scope` claim; in IAM mode, IAM policy on the routes decides, so every scope).
A request without an authorizer is refused (401), except under `sam local`, which runs no JWT authorizer:
there the caller is the development tenant, as on the local stack without `--auth`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from flowcore.domain import tenancy
from flowcore.domain.errors import Forbidden, Unauthenticated

FLOWS_READ: Final = "flows:read"
FLOWS_WRITE: Final = "flows:write"
EXECUTIONS_READ: Final = "executions:read"
EXECUTIONS_WRITE: Final = "executions:write"
SCOPES: Final = frozenset({FLOWS_READ, FLOWS_WRITE, EXECUTIONS_READ, EXECUTIONS_WRITE})

_ASSUMED_ROLE = re.compile(r"^arn:(aws[\w-]*):sts::(\d{12}):assumed-role/([^/]+)/.+$")


@dataclass(frozen=True, slots=True)
class Caller:
    tenant: str
    scopes: frozenset[str]

    def flow(self, flow_id: str) -> str:
        """The caller's flow of that id (a scoped id: `flowcore.domain.tenancy`)."""
        return tenancy.scoped(self.tenant, flow_id)

    def execution(self, execution_id: str) -> str:
        return tenancy.scoped(self.tenant, execution_id)

    def require(self, needed: frozenset[str]) -> None:
        """`Forbidden` naming the scopes the caller lacks for this route."""
        missing = sorted(needed - self.scopes)
        if missing:
            raise Forbidden(
                f"this route needs the scope{'s' if len(missing) > 1 else ''} {', '.join(missing)}, which the "
                f"caller's token does not grant (it grants: {', '.join(sorted(self.scopes)) or 'none'})"
            )


def development_caller() -> Caller:
    return Caller(tenancy.DEV_TENANT, SCOPES)


def caller_of(request_context: Mapping[str, Any], tenant_claim: str, sam_local: bool = False) -> Caller:
    """The caller the authorizer vouched for; `Unauthenticated` when there is none, or it names no tenant."""
    authorizer = request_context.get("authorizer") or {}
    jwt = authorizer.get("jwt") if isinstance(authorizer, Mapping) else None
    iam = authorizer.get("iam") if isinstance(authorizer, Mapping) else None
    if isinstance(jwt, Mapping):
        return _jwt_caller(jwt, tenant_claim)
    if isinstance(iam, Mapping):
        return _iam_caller(iam)
    if sam_local:
        return development_caller()
    raise Unauthenticated(
        "this route needs an authenticated caller: send `Authorization: Bearer <token>` (or sign the request "
        "with SigV4 when the API uses IAM)"
    )


def _jwt_caller(jwt: Mapping[str, Any], tenant_claim: str) -> Caller:
    claims = jwt.get("claims") or {}
    tenant = str(claims.get(tenant_claim) or "")
    if not tenancy.valid_tenant(tenant):
        raise Unauthenticated(
            f"the token has no usable '{tenant_claim}' claim to name its tenant (1-{tenancy.MAX_TENANT_CHARS} "
            "printable characters)"
        )
    granted = str(claims.get("scope") or "").split()
    granted += [str(scope) for scope in jwt.get("scopes") or []]
    # Cognito names a resource server's scopes `<identifier>/<scope>`: the scope is what follows the last `/`.
    return Caller(tenant, frozenset(scope.rsplit("/", 1)[-1] for scope in granted) & SCOPES)


def _iam_caller(iam: Mapping[str, Any]) -> Caller:
    principal = str(iam.get("userArn") or "")
    role = _ASSUMED_ROLE.match(principal)
    if role is not None:  # each session of a role is the same caller: the role
        principal = f"arn:{role.group(1)}:iam::{role.group(2)}:role/{role.group(3)}"
    if not tenancy.valid_tenant(principal):
        raise Unauthenticated("the request's IAM identity names no principal")
    return Caller(principal, SCOPES)
