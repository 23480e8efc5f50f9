"""Cold-import probe: every flowcore module the API handler imports, and no HTTP layer at all.

Its ratio to `import boto3` is what the API would weigh with a router that cost nothing.
"""

from flowcore import aws, definition, observability, service, tasks, validation

MODULES = (aws, definition, observability, service, tasks, validation)
