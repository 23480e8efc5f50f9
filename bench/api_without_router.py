"""Cold-import probe: every flowcore module the API handler imports, and no HTTP layer at all.

Its ratio to `import boto3` is what the API would weigh with a router that cost nothing.
"""

from flowcore import observability
from flowcore.api import body, errors, executions, flows, identity, models, openapi, seed, validation, views
from flowcore.wiring import api, shared

MODULES = (
    observability,
    body,
    errors,
    executions,
    flows,
    identity,
    models,
    openapi,
    seed,
    validation,
    views,
    api,
    shared,
)
