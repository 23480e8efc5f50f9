"""The API's side of the service: use cases for flows and executions, the documents they answer with, the
request models, and the mapping of domain errors to HTTP. It reaches AWS only through `flowcore.ports`."""
